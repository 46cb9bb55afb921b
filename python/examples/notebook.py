"""A notebook-style tour of the oarn package: run it cell by cell (`# %%`), or whole, against a
running node: `oarn start` (or `oarn local start` for local inference only) first.

    python examples/notebook.py
"""

# %% Connect to the node of ~/.oarn (or $OARN_HOME) and see what it runs.
from __future__ import annotations

import asyncio
import sys

import oarn

node = oarn.Client()
try:
    status = node.status()
except oarn.NodeNotRunning as e:
    sys.exit(f"{e}")
print(f"oarn {status.version}, {status.mode} mode, up {status.uptime_secs} s")
for worker in status.workers:
    print(f"  {worker.kind:<6} {worker.state:<10} restarts {worker.restarts}")

# %% The models it has, and a generation streamed as it comes.
models = node.models()
print("models:", ", ".join(m.name for m in models) or "none (oarn model pull smollm2-135m)")
if models:
    stream = node.stream("The capital of France is", max_tokens=16)
    for piece in stream:
        print(piece, end="", flush=True)
    print()
    done = stream.result
    if done is not None:
        speed = done.generated_tokens / max(done.generate_us, 1) * 1e6
        print(f"{done.generated_tokens} tokens at {speed:.1f} tokens/s, keccak256 {done.text_keccak}")

# %% Greedy generations give the same bytes every time (what consensus needs).
if models:
    first = node.generate("Name three prime numbers.", max_tokens=24)
    again = node.generate("Name three prime numbers.", max_tokens=24)
    assert first.text_keccak == again.text_keccak
    print(first.text)

# %% On a node of the network: the tasks it sees, and what it earned.
if status.mode == "standard":
    seen = node.tasks(limit=10)
    print("pipeline running:", seen.pipeline.running, seen.pipeline.why_not or "")
    for task in seen.tasks:
        print(f"  task {task.id}: {task.stage} {task.why or ''}")
    earned = node.earnings()
    print(f"earned in 24 h: {oarn.eth(earned.last_24h.reward_wei)} ETH, net {oarn.eth(earned.last_24h.net_wei)} ETH")


# %% The same from asyncio.
async def main() -> None:
    anode = oarn.AsyncClient()
    peers = await anode.peers() if status.mode == "standard" else None
    print("peers:", len(peers.peers) if peers else "none in local mode")
    if models:
        async for piece in anode.stream("Say hello.", max_tokens=8):
            print(piece, end="", flush=True)
        print()


asyncio.run(main())
