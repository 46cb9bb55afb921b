"""``Client`` and ``AsyncClient``: the node's local API from Python.

Both call the extension module (``oarn._oarn``), which speaks the API through the Rust
client the ``oarn`` command uses, with the GIL released while it waits. The asyncio flavour
runs those same calls on worker threads, so it never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import json
import os
from decimal import Decimal
from typing import AsyncIterator, Iterator, List, Optional, Sequence, Union

from . import _oarn
from ._types import (
    Earnings,
    Generated,
    History,
    Model,
    Peers,
    Status,
    Submitted,
    TaskList,
    TaskReport,
    TaskResult,
    TensorResult,
    Worker,
    decode,
    decode_list,
)

PathLike = Union[str, "os.PathLike[str]"]


class Stream:
    """A generation's text as it comes: iterate it for the pieces, in order.

    Leaving early (``break``, an exception, Ctrl-C, :meth:`close`, or the end of a ``with``
    block) cancels the generation in the node: a stream nobody holds any more is dropped by
    the extension, which cancels it. Once the stream is exhausted, :attr:`result`
    holds the whole generation. It may be read from any thread.
    """

    def __init__(self, inner: _oarn.Stream) -> None:
        self._inner = inner

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        return next(self._inner)

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def result(self) -> Optional[Generated]:
        """The whole generation once the stream is exhausted; None before."""
        raw = self._inner.result
        return None if raw is None else decode(Generated, json.loads(raw))

    def cancel(self) -> None:
        """Cancels the generation; the text made so far still arrives, then the stream ends
        with a result whose ``stop`` is ``Cancelled``."""
        self._inner.cancel()

    def close(self) -> Optional[Generated]:
        """Cancels the generation unless it ended, and returns its result (None when it
        ended in an error)."""
        raw = self._inner.close()
        return None if raw is None else decode(Generated, json.loads(raw))


class Client:
    """The node of one node home, through its local API socket.

    ``home`` is the node home (default ``$OARN_HOME``, else ``~/.oarn``); ``timeout`` the
    seconds to wait for each answer. Every method raises a subclass of :class:`OarnError`
    named after what went wrong, e.g. :class:`NodeNotRunning`.
    """

    def __init__(self, home: Optional[PathLike] = None, timeout: float = 60.0) -> None:
        self._inner = _oarn.Client(None if home is None else os.fspath(home), timeout)

    @property
    def home(self) -> str:
        """The node home this client talks to."""
        return str(self._inner.home)

    def __repr__(self) -> str:
        return f"Client(home={self.home!r})"

    def status(self) -> Status:
        """The node: version, mode, network, chain, wallet, workers, HTTP listener."""
        return decode(Status, json.loads(self._inner.status()))

    def workers(self) -> List[Worker]:
        """Each worker: state, pid, restarts, sandbox layers."""
        return decode_list(Worker, json.loads(self._inner.workers()))

    def peers(self) -> Peers:
        """The swarm: peer id, listen addresses, connected peers, traffic."""
        return decode(Peers, json.loads(self._inner.peers()))

    def models(self) -> List[Model]:
        """The installed models, and whether each is loaded."""
        return decode_list(Model, json.loads(self._inner.models()))

    def tasks(self, limit: Optional[int] = None) -> TaskList:
        """The tasks the node has seen, newest first, each with whether it takes it and why not."""
        return decode(TaskList, json.loads(self._inner.tasks(limit)))

    def task(self, task_id: int) -> TaskReport:
        """One task: stage, timeline, transactions, result, money and timings."""
        return decode(TaskReport, json.loads(self._inner.task(task_id)))

    def history(self, limit: Optional[int] = None) -> History:
        """Settled tasks, newest first, with their totals."""
        return decode(History, json.loads(self._inner.history(limit)))

    def earnings(self) -> Earnings:
        """Rewards, gas and net over the last 24 hours, 7 days and all time."""
        return decode(Earnings, json.loads(self._inner.earnings()))

    def generate(
        self,
        prompt: str,
        model: Optional[str] = None,
        max_tokens: int = 256,
        temperature: float = 0.0,
        seed: int = 0,
        stop: Sequence[str] = (),
        system: Optional[str] = None,
        chat: bool = True,
        top_k: int = 0,
        top_p: float = 1.0,
        timeout: Optional[float] = None,
    ) -> Generated:
        """One generation by the node's inference worker, whole.

        Greedy (``temperature`` 0, the default) gives the same bytes on every run. ``model``
        defaults to the only one installed; ``timeout`` (seconds) bounds the generation.
        """
        raw = self._inner.generate(
            prompt, model, max_tokens, temperature, seed, list(stop), system, chat, top_k, top_p, timeout
        )
        return decode(Generated, json.loads(raw))

    def stream(
        self,
        prompt: str,
        model: Optional[str] = None,
        max_tokens: int = 256,
        temperature: float = 0.0,
        seed: int = 0,
        stop: Sequence[str] = (),
        system: Optional[str] = None,
        chat: bool = True,
        top_k: int = 0,
        top_p: float = 1.0,
        timeout: Optional[float] = None,
    ) -> Stream:
        """One generation, its text as it comes (see :class:`Stream`); the same arguments as
        :meth:`generate`."""
        inner = self._inner.stream(
            prompt, model, max_tokens, temperature, seed, list(stop), system, chat, top_k, top_p, timeout
        )
        return Stream(inner)

    def run_tensor(
        self, input: bytes, model: Optional[str] = None, threads: int = 0, timeout: Optional[float] = None
    ) -> TensorResult:
        """Runs an installed ONNX model (``model``, or the only one) on ``input``, a tensor
        task's input block (a JSON array of numbers, an object with ``input``/``data``/
        ``values``/``params``, or raw little-endian f32; at most 500 KiB), in the node's
        inference worker, which keeps the model loaded. The result is the bytes a task would
        submit."""
        return decode(TensorResult, json.loads(self._inner.run_tensor(bytes(input), model, threads, timeout)))

    def submit_task(
        self,
        model: str,
        prompt: str,
        reward_eth: Union[str, Decimal],
        nodes: int = 3,
        deadline: int = 3600,
        max_tokens: Optional[int] = None,
        system: Optional[str] = None,
        stop: Sequence[str] = (),
        chat: Optional[bool] = None,
    ) -> Submitted:
        """Submits a task as a requester: the node writes the input block and the model
        manifest, adds them and the model file to IPFS, pays ``reward_eth`` to each of
        ``nodes`` nodes with its key, and announces the task. ``deadline``: seconds the task
        stays open."""
        raw = self._inner.submit_task(
            model, prompt, str(reward_eth), nodes, deadline, max_tokens, system, list(stop), chat
        )
        return decode(Submitted, json.loads(raw))

    def result(self, task_id: int) -> TaskResult:
        """A task's consensus result, fetched by its nodes' result notices and checked: its
        keccak256 is the hash consensus was reached on."""
        return decode(TaskResult, json.loads(self._inner.result(task_id)))


class AsyncStream:
    """A :class:`Stream` for ``async for``: each piece is awaited on a worker thread."""

    def __init__(self, stream: Stream) -> None:
        self._stream = stream

    def __aiter__(self) -> AsyncIterator[str]:
        return self

    async def __anext__(self) -> str:
        def step() -> Optional[str]:
            return next(self._stream, None)

        piece = await asyncio.to_thread(step)
        if piece is None:
            raise StopAsyncIteration
        return piece

    async def __aenter__(self) -> AsyncStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def result(self) -> Optional[Generated]:
        """The whole generation once the stream is exhausted; None before."""
        return self._stream.result

    def cancel(self) -> None:
        """Cancels the generation in the node."""
        self._stream.cancel()

    async def aclose(self) -> Optional[Generated]:
        """Cancels the generation unless it ended, and returns its result."""
        return await asyncio.to_thread(self._stream.close)


class AsyncClient:
    """:class:`Client` for asyncio: the same methods, awaited."""

    def __init__(self, home: Optional[PathLike] = None, timeout: float = 60.0) -> None:
        self._sync = Client(home, timeout)

    @property
    def home(self) -> str:
        """The node home this client talks to."""
        return self._sync.home

    def __repr__(self) -> str:
        return f"AsyncClient(home={self.home!r})"

    async def status(self) -> Status:
        """See :meth:`Client.status`."""
        return await asyncio.to_thread(self._sync.status)

    async def workers(self) -> List[Worker]:
        """See :meth:`Client.workers`."""
        return await asyncio.to_thread(self._sync.workers)

    async def peers(self) -> Peers:
        """See :meth:`Client.peers`."""
        return await asyncio.to_thread(self._sync.peers)

    async def models(self) -> List[Model]:
        """See :meth:`Client.models`."""
        return await asyncio.to_thread(self._sync.models)

    async def tasks(self, limit: Optional[int] = None) -> TaskList:
        """See :meth:`Client.tasks`."""
        return await asyncio.to_thread(self._sync.tasks, limit)

    async def task(self, task_id: int) -> TaskReport:
        """See :meth:`Client.task`."""
        return await asyncio.to_thread(self._sync.task, task_id)

    async def history(self, limit: Optional[int] = None) -> History:
        """See :meth:`Client.history`."""
        return await asyncio.to_thread(self._sync.history, limit)

    async def earnings(self) -> Earnings:
        """See :meth:`Client.earnings`."""
        return await asyncio.to_thread(self._sync.earnings)

    async def generate(
        self,
        prompt: str,
        model: Optional[str] = None,
        max_tokens: int = 256,
        temperature: float = 0.0,
        seed: int = 0,
        stop: Sequence[str] = (),
        system: Optional[str] = None,
        chat: bool = True,
        top_k: int = 0,
        top_p: float = 1.0,
        timeout: Optional[float] = None,
    ) -> Generated:
        """See :meth:`Client.generate`."""
        return await asyncio.to_thread(
            self._sync.generate, prompt, model, max_tokens, temperature, seed, stop, system, chat, top_k, top_p, timeout
        )

    def stream(
        self,
        prompt: str,
        model: Optional[str] = None,
        max_tokens: int = 256,
        temperature: float = 0.0,
        seed: int = 0,
        stop: Sequence[str] = (),
        system: Optional[str] = None,
        chat: bool = True,
        top_k: int = 0,
        top_p: float = 1.0,
        timeout: Optional[float] = None,
    ) -> AsyncStream:
        """See :meth:`Client.stream`; iterate it with ``async for``."""
        return AsyncStream(
            self._sync.stream(prompt, model, max_tokens, temperature, seed, stop, system, chat, top_k, top_p, timeout)
        )

    async def run_tensor(
        self, input: bytes, model: Optional[str] = None, threads: int = 0, timeout: Optional[float] = None
    ) -> TensorResult:
        """See :meth:`Client.run_tensor`."""
        return await asyncio.to_thread(self._sync.run_tensor, input, model, threads, timeout)

    async def submit_task(
        self,
        model: str,
        prompt: str,
        reward_eth: Union[str, Decimal],
        nodes: int = 3,
        deadline: int = 3600,
        max_tokens: Optional[int] = None,
        system: Optional[str] = None,
        stop: Sequence[str] = (),
        chat: Optional[bool] = None,
    ) -> Submitted:
        """See :meth:`Client.submit_task`."""
        return await asyncio.to_thread(
            self._sync.submit_task, model, prompt, reward_eth, nodes, deadline, max_tokens, system, stop, chat
        )

    async def result(self, task_id: int) -> TaskResult:
        """See :meth:`Client.result`."""
        return await asyncio.to_thread(self._sync.result, task_id)
