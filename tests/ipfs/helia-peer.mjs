// A real Helia (IPFS in JavaScript) node for oarn's interoperability tests: TCP + Noise +
// Yamux on 127.0.0.1 only, Bitswap, no bootstrap peers, no routers, no HTTP gateways, so it
// reaches nothing but the peers a test tells it to dial. It reads one JSON command per line
// on stdin and answers one JSON line on stdout:
//   {"op":"add","hex":"…"}                 -> {"cid":"bafkrei…"}   (a raw block)
//   {"op":"get","cid":"…","timeout_ms":N}  -> {"hex":"…"} or {"error":"…"}
//   {"op":"dial","addr":"/ip4/…/p2p/…"}    -> {"ok":true} or {"error":"…"}
//   {"op":"getmany","cids":["…"],"concurrency":N,"timeout_ms":N}
//                                           -> {"bytes":N,"ms":N}   (fetched, not returned)
// Its first line is {"peer_id":"…","addrs":["…"]}.
import { createInterface } from 'node:readline'
import { createHeliaLight } from 'helia'
import { withLibp2pLight } from '@helia/libp2p'
import { withBitswap } from '@helia/bitswap'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { MemoryBlockstore } from 'blockstore-core'
import { MemoryDatastore } from 'datastore-core'
import { multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'

const helia = withBitswap(withLibp2pLight(createHeliaLight({
  blockstore: new MemoryBlockstore(),
  datastore: new MemoryDatastore(),
  routers: [],
  blockBrokers: []
}), {
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  peerDiscovery: [],
  services: { identify: identify() }
}))
await helia.start()

const say = (v) => process.stdout.write(JSON.stringify(v) + '\n')
say({ peer_id: helia.libp2p.peerId.toString(), addrs: helia.libp2p.getMultiaddrs().map(String) })

for await (const line of createInterface({ input: process.stdin })) {
  let cmd
  try {
    cmd = JSON.parse(line)
    if (cmd.op === 'add') {
      const bytes = Buffer.from(cmd.hex, 'hex')
      const cid = CID.createV1(raw.code, await sha256.digest(bytes))
      await helia.blockstore.put(cid, bytes)
      say({ cid: cid.toString() })
    } else if (cmd.op === 'get') {
      const chunks = []
      for await (const c of helia.blockstore.get(CID.parse(cmd.cid), { signal: AbortSignal.timeout(cmd.timeout_ms ?? 10000) })) {
        chunks.push(c)
      }
      say({ hex: Buffer.concat(chunks).toString('hex') })
    } else if (cmd.op === 'getmany') {
      const signal = AbortSignal.timeout(cmd.timeout_ms ?? 600000)
      const start = performance.now()
      let bytes = 0
      let next = 0
      const worker = async () => {
        while (next < cmd.cids.length) {
          const cid = CID.parse(cmd.cids[next++])
          for await (const c of helia.blockstore.get(cid, { signal })) {
            bytes += c.length
          }
        }
      }
      await Promise.all(Array.from({ length: cmd.concurrency ?? 32 }, worker))
      say({ bytes, ms: performance.now() - start })
    } else if (cmd.op === 'dial') {
      await helia.libp2p.dial(multiaddr(cmd.addr))
      say({ ok: true })
    } else {
      say({ error: `unknown op ${cmd.op}` })
    }
  } catch (e) {
    say({ error: String(e?.message ?? e) })
  }
}
await helia.stop()
