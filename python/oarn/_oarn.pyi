"""Type stubs of the extension module (``python/src/*.rs``): each method answers the node's
result as JSON text, which ``oarn._types`` decodes."""

from typing import List, Optional

class OarnError(Exception):
    """Anything the node or its API refused or could not do."""

class NodeNotRunning(OarnError):
    """No node answers on the node home's socket: start it with `oarn start`."""

class NotConnected(OarnError):
    """The node is not connected to the peer-to-peer network."""

class NoProviders(OarnError):
    """The node cannot reach the chain, or runs no task pipeline."""

class InvalidRequest(OarnError):
    """The request is malformed or out of range; the message names the field."""

class NotFound(OarnError):
    """What was asked for does not exist: a model, a pin, a task."""

class Busy(OarnError):
    """The worker that does this is busy, restarting or did not answer in time."""

class Cancelled(OarnError):
    """The request was cancelled."""

class Timeout(OarnError):
    """The node did not answer in time, or the request's own deadline passed."""

class Refused(OarnError):
    """The contract refused the transaction."""

class Locked(OarnError):
    """The wallet is locked: the node holds no signing key."""

class InvalidConfig(OarnError):
    """The node's configuration file is invalid."""

class ProtocolError(OarnError):
    """The conversation with the node broke."""

class Stream:
    """A generation's text pieces, fed by a thread of its own."""

    def __iter__(self) -> Stream: ...
    def __next__(self) -> str: ...
    @property
    def result(self) -> Optional[str]: ...
    def cancel(self) -> None: ...
    def close(self) -> Optional[str]: ...
    def __enter__(self) -> Stream: ...
    def __exit__(self, *exc: object) -> bool: ...

class Client:
    """A connection to the node of one node home."""

    def __init__(self, home: Optional[str] = None, timeout: float = 60.0) -> None: ...
    @property
    def home(self) -> str: ...
    def status(self) -> str: ...
    def workers(self) -> str: ...
    def peers(self) -> str: ...
    def models(self) -> str: ...
    def tasks(self, limit: Optional[int] = None) -> str: ...
    def task(self, task_id: int) -> str: ...
    def history(self, limit: Optional[int] = None) -> str: ...
    def earnings(self) -> str: ...
    def generate(
        self,
        prompt: str,
        model: Optional[str] = None,
        max_tokens: int = 256,
        temperature: float = 0.0,
        seed: int = 0,
        stop: List[str] = ...,
        system: Optional[str] = None,
        chat: bool = True,
        top_k: int = 0,
        top_p: float = 1.0,
        timeout: Optional[float] = None,
    ) -> str: ...
    def stream(
        self,
        prompt: str,
        model: Optional[str] = None,
        max_tokens: int = 256,
        temperature: float = 0.0,
        seed: int = 0,
        stop: List[str] = ...,
        system: Optional[str] = None,
        chat: bool = True,
        top_k: int = 0,
        top_p: float = 1.0,
        timeout: Optional[float] = None,
    ) -> Stream: ...
    def run_tensor(
        self, input: bytes, model: Optional[str] = None, threads: int = 0, timeout: Optional[float] = None
    ) -> str: ...
    def submit_task(
        self,
        model: str,
        prompt: str,
        reward_eth: str,
        nodes: int = 3,
        open_secs: int = 3600,
        max_tokens: Optional[int] = None,
        system: Optional[str] = None,
        stop: List[str] = ...,
        chat: Optional[bool] = None,
    ) -> str: ...
    def result(self, task_id: int) -> str: ...
