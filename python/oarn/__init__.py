"""Drive an OARN node and submit tasks from Python.

The package speaks the node's local API (JSON-RPC on the node home's ``oarn.sock``) through
the same Rust client the ``oarn`` command uses, compiled into ``oarn._oarn``; it does not
speak the protocol itself. A node must be running (``oarn start``, or ``oarn local start``)::

    import oarn

    node = oarn.Client()                      # ~/.oarn, or $OARN_HOME
    print(node.status().workers[0].state)     # 'running'
    for piece in node.stream("The capital of France is", max_tokens=16):
        print(piece, end="", flush=True)

:class:`AsyncClient` has the same methods for asyncio. Every error is a subclass of
:class:`OarnError` named after its cause.
"""

from ._client import AsyncClient, AsyncStream, Client, Stream
from ._oarn import (
    Busy,
    Cancelled,
    InvalidConfig,
    InvalidRequest,
    Locked,
    NodeNotRunning,
    NoProviders,
    NotConnected,
    NotFound,
    OarnError,
    ProtocolError,
    Refused,
    Timeout,
)
from ._types import (
    Bitswap,
    Bootstrap,
    ChainNetwork,
    ChainState,
    Earnings,
    Generated,
    Gossip,
    History,
    HttpState,
    Layer,
    Ledger,
    Model,
    NetworkState,
    OllamaServe,
    OllamaState,
    Peer,
    Peers,
    Period,
    Pipeline,
    PrivacyState,
    SettledTask,
    Sla,
    Status,
    Streams,
    Submitted,
    TaskList,
    TaskReport,
    TaskResult,
    TaskRow,
    TensorResult,
    Timings,
    Transition,
    WalletState,
    Worker,
    eth,
)

__all__ = [
    "AsyncClient",
    "AsyncStream",
    "Bitswap",
    "Bootstrap",
    "Busy",
    "Cancelled",
    "ChainNetwork",
    "ChainState",
    "Client",
    "Earnings",
    "Generated",
    "Gossip",
    "History",
    "HttpState",
    "InvalidConfig",
    "InvalidRequest",
    "Layer",
    "Ledger",
    "Locked",
    "Model",
    "NetworkState",
    "NoProviders",
    "NodeNotRunning",
    "NotConnected",
    "NotFound",
    "OarnError",
    "OllamaServe",
    "OllamaState",
    "Peer",
    "Peers",
    "Period",
    "Pipeline",
    "PrivacyState",
    "ProtocolError",
    "Refused",
    "SettledTask",
    "Sla",
    "Status",
    "Stream",
    "Streams",
    "Submitted",
    "TaskList",
    "TaskReport",
    "TaskResult",
    "TaskRow",
    "TensorResult",
    "Timeout",
    "Timings",
    "Transition",
    "WalletState",
    "Worker",
    "eth",
]
