"""What the node answers, as typed, immutable Python objects.

Each class mirrors one result type of the node's local API (crate ``oarn-api``); the
extension module hands over the node's answer as JSON, and :func:`decode` builds these
objects from it. Wei amounts are decimal strings, as the API writes them, since they exceed
what a float holds exactly; :func:`eth` turns one into an ETH ``Decimal``.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, List, Optional, Type, TypeVar

T = TypeVar("T")

#: Unknown keys in an answer are an error when set (the tests set it: a field the node added
#: and these classes lack is caught there); otherwise they are ignored.
STRICT = os.environ.get("OARN_PYTHON_STRICT") == "1"


def eth(wei: str) -> Decimal:
    """A wei amount (decimal string, possibly negative) in ETH."""
    return Decimal(wei) / Decimal(10**18)


# ---------------------------------------------------------------- the node (oarn_status)


@dataclass(frozen=True)
class Layer:
    """One sandbox layer of a worker, as the worker reported it."""

    layer: str
    #: ``active``, ``unavailable`` or ``not-applied``.
    state: str
    reason: Optional[str] = None


@dataclass(frozen=True)
class Worker:
    """One worker process (infer, net, chain) as the supervisor sees it."""

    kind: str
    binary: str
    #: ``starting``, ``running``, ``restarting`` or ``stopped``.
    state: str
    pid: Optional[int]
    started_at: Optional[int]
    uptime_secs: Optional[int]
    restarts: int
    last_exit: Optional[str]
    degraded: Optional[str]
    build_id: Optional[str]
    capabilities: List[str]
    in_flight: Optional[int]
    sandbox: List[Layer]
    profile_hash: Optional[str]
    ping_us: Optional[int]


@dataclass(frozen=True)
class NetworkState:
    """The peer-to-peer side, as the node last heard from its swarm."""

    connected: bool
    peer_id: Optional[str]
    listen: List[str]
    ipfs_api: Optional[str]
    peers: int
    announcements: int
    error: Optional[str]


@dataclass(frozen=True)
class Bootstrap:
    """A bootstrap peer the registry lists."""

    peer_id: str
    multiaddr: str


@dataclass(frozen=True)
class ChainNetwork:
    """What discovery found: the contracts, the endpoint in use and its head."""

    registry: str
    task_registry_v2: str
    token_reward: str
    gov_token: str
    validator_registry: str
    endpoint: str
    head: int
    rpc_providers: List[str]
    bootstrap: List[Bootstrap]
    validators: List[str]


@dataclass(frozen=True)
class ChainState:
    """How far discovery of the network got (``pending``, ``failed`` or ``ok``)."""

    connected: bool
    discovery: str
    error: Optional[str] = None
    network: Optional[ChainNetwork] = None

    @classmethod
    def _from_json(cls, data: dict[str, Any]) -> ChainState:
        own = {"connected", "discovery", "error"}
        rest = {k: v for k, v in data.items() if k not in own}
        return cls(
            connected=data["connected"],
            discovery=data["discovery"],
            error=data.get("error"),
            network=decode(ChainNetwork, rest) if rest else None,
        )


@dataclass(frozen=True)
class WalletState:
    """Whether the node can sign, and as which account."""

    present: bool
    account: Optional[str]
    locked: Optional[str]
    index: int = 0


@dataclass(frozen=True)
class OllamaServe:
    """The ``ollama serve`` the node runs."""

    binary: str
    address: str
    pid: Optional[int]
    restarts: int
    last_exit: Optional[str]


@dataclass(frozen=True)
class OllamaState:
    """Routing of generations to Ollama."""

    enabled: bool
    address: str
    serve: Optional[OllamaServe]


@dataclass(frozen=True)
class HttpState:
    """The node's HTTP listener: ``/metrics`` and the JSON API."""

    listen: Optional[str] = None
    error: Optional[str] = None


@dataclass(frozen=True)
class PrivacyState:
    """Privacy mode (``privacy.mode``) and, when on, its transport as the anonymity worker
    reports it."""

    #: ``off`` or ``tor``.
    mode: str = "off"
    #: ``tor`` when privacy mode is on.
    transport: Optional[str] = None
    #: Streams can be opened: the Tor client has a directory and circuits.
    ready: bool = False
    #: Bootstrap progress, 0 to 100.
    percent: int = 0
    #: What holds the transport up; with privacy mode on and this set, the node has no network.
    blocked: Optional[str] = None
    streams_open: int = 0
    streams_total: int = 0
    streams_failed: int = 0
    #: The node's onion service (``/onion3/<address>:<port>``), once launched.
    onion: Optional[str] = None


@dataclass(frozen=True)
class Status:
    """The running node: ``Client.status()``."""

    version: str
    pid: int
    name: str
    #: ``standard`` or ``local``.
    mode: str
    home: str
    config: str
    uptime_secs: int
    sandbox_mode: str
    network: NetworkState
    chain: ChainState
    wallet: WalletState
    workers: List[Worker]
    ollama: OllamaState
    http: HttpState = field(default_factory=HttpState)
    privacy: PrivacyState = field(default_factory=PrivacyState)


# ---------------------------------------------------------------- peers (oarn_peers)


@dataclass(frozen=True)
class Peer:
    """One connected peer."""

    peer_id: str
    addresses: List[str]
    agent: str
    rtt_us: Optional[int]
    score: int
    valid_messages: int
    invalid_messages: int
    validator: bool
    #: Where it says it is reached (identify); a privacy-mode node names only its onion service.
    advertised: List[str] = field(default_factory=list)


@dataclass(frozen=True)
class Sla:
    """Claim-to-result times of the tasks this node claimed."""

    results: int
    claim_to_result_p50_ms: int
    claim_to_result_p99_ms: int
    claim_to_result_max_ms: int


@dataclass(frozen=True)
class Banned:
    """A peer banned for misbehaving."""

    peer_id: str
    reason: str


@dataclass(frozen=True)
class Gossip:
    """What became of gossip messages."""

    accepted: int
    rejected: int
    ignored: int
    published: int
    dropped_events: int
    bytes_in: int
    bytes_out: int


@dataclass(frozen=True)
class Streams:
    """Bytes of every protocol stream."""

    bytes_in: int
    bytes_out: int


@dataclass(frozen=True)
class Bitswap:
    """Blocks and bytes exchanged over Bitswap."""

    blocks_served: int
    blocks_received: int
    messages_dropped: int
    bytes_served: int
    bytes_received: int


@dataclass(frozen=True)
class Peers:
    """The swarm: ``Client.peers()``."""

    peer_id: str
    listen: List[str]
    peers: List[Peer]
    validators: List[str]
    sla: Sla
    banned: List[Banned]
    gossip: Gossip
    streams: Streams
    bitswap: Bitswap


# ---------------------------------------------------------------- models (oarn_models)


@dataclass(frozen=True)
class Model:
    """An installed model: ``Client.models()``."""

    name: str
    format: str
    size: int
    #: ``sha256:<hex>`` of the file.
    digest: str
    added_at: int
    last_used: int
    #: Held in memory by the inference worker now.
    loaded: bool


# ---------------------------------------------------------------- tasks


@dataclass(frozen=True)
class Pipeline:
    """Whether the node works on tasks, and why not when it does not."""

    running: bool
    auto_claim: bool
    max_concurrent_tasks: int
    why_not: Optional[str] = None


@dataclass(frozen=True)
class TaskRow:
    """One task as the node sees it."""

    id: int
    #: discovered, validated, claiming, claimed, input_fetched, model_ready, executed,
    #: result_uploaded, submitting, submitted, settled, failed or skipped.
    stage: str
    #: Where it was first seen: routed, gossip, chain, scan, operator.
    source: str
    reward_wei: str
    required_nodes: int
    deadline: int
    #: The node takes it (works on it, or would once a slot is free).
    takes: bool
    updated_ms: int
    why: Optional[str] = None


@dataclass(frozen=True)
class TaskList:
    """The tasks the node has seen, newest first: ``Client.tasks()``."""

    pipeline: Pipeline
    tasks: List[TaskRow]


@dataclass(frozen=True)
class Transition:
    """One journaled step of a task and the stage it led to."""

    at_ms: int
    event: str
    stage: str
    detail: Optional[str] = None


@dataclass(frozen=True)
class Ledger:
    """A task's money in wei (decimal strings; ``net_wei`` may be negative)."""

    reward_wei: str
    claim_gas_wei: str
    submit_gas_wei: str
    net_wei: str


@dataclass(frozen=True)
class Timings:
    """Where a task's time went, ms, from discovery to its submission mined."""

    total_ms: int
    queued_ms: int
    generation_ms: int
    chain_wait_ms: int
    overhead_ms: int


@dataclass(frozen=True)
class TaskReport:
    """One task in full: ``Client.task(id)``."""

    id: int
    stage: str
    source: str
    reward_wei: str
    required_nodes: int
    deadline: int
    takes: bool
    updated_ms: int
    timeline: List[Transition]
    ledger: Ledger
    why: Optional[str] = None
    claim_tx: Optional[str] = None
    submit_tx: Optional[str] = None
    #: keccak256 of the result bytes.
    result_hash: Optional[str] = None
    result_cid: Optional[str] = None
    #: rewarded, unrewarded or disputed, once settled.
    outcome: Optional[str] = None
    timings: Optional[Timings] = None


@dataclass(frozen=True)
class SettledTask:
    """One settled task and its money."""

    id: int
    outcome: str
    settled_ms: int
    reward_wei: str
    claim_gas_wei: str
    submit_gas_wei: str
    net_wei: str
    why: Optional[str] = None


@dataclass(frozen=True)
class History:
    """Settled tasks, newest first, and their totals: ``Client.history()``."""

    tasks: List[SettledTask]
    total: Ledger


@dataclass(frozen=True)
class Period:
    """Earnings over one period: tasks that ended in it."""

    #: Start of the period, ms since the Unix epoch (0: all time).
    since_ms: int
    tasks: int
    rewarded: int
    reward_wei: str
    claim_gas_wei: str
    submit_gas_wei: str
    net_wei: str


@dataclass(frozen=True)
class Earnings:
    """What the node earned: ``Client.earnings()``."""

    last_24h: Period
    last_7d: Period
    total: Period


# ---------------------------------------------------------------- generations and requesters


@dataclass(frozen=True)
class Generated:
    """A finished generation: ``Client.generate()``, or a stream's ``result``."""

    #: The model, by its store (or Ollama) name.
    model: str
    #: The whole text, exactly as generated.
    text: str
    #: keccak256 of the text's bytes, which the node checked.
    text_keccak: str
    #: EndOfText, MaxTokens, Cancelled or StopString.
    stop: str
    prompt_tokens: int
    generated_tokens: int
    load_us: int
    prompt_us: int
    generate_us: int
    first_token_us: int
    #: What decides the exact bytes: backend, its version and build, the parameters.
    fingerprint: str


@dataclass(frozen=True)
class TensorResult:
    """An ONNX model's run on a tensor task's input: ``Client.run_tensor()``."""

    model: str
    #: The result bytes a task would submit: compact JSON of the output tensor.
    result: str
    #: keccak256 of the result's bytes, which the node checked.
    result_keccak: str
    input_shape: List[int]
    output_shape: List[int]
    load_us: int
    run_us: int
    #: What decides the exact bytes: runtime build, library, CPU path, options.
    fingerprint: str


@dataclass(frozen=True)
class Submitted:
    """A task a requester submitted: ``Client.submit_task()``."""

    task_id: int
    tx: str
    input_hash: str
    model_hash: str
    input_cid: str
    manifest_cid: str
    model_cid: str
    paid_wei: str
    announced_to: int


@dataclass(frozen=True)
class TaskResult:
    """A task's consensus result, its keccak256 checked against the chain: ``Client.result()``."""

    task_id: int
    result_hash: str
    cid: str
    #: The result bytes as text (UTF-8, invalid sequences replaced).
    text: str
    bytes: int
    #: Nodes whose results matched.
    agreeing: int


# ---------------------------------------------------------------- decoding


def _convert(hint: Any, value: Any) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union and type(None) in args:
        inner = next(a for a in args if a is not type(None))
        return None if value is None else _convert(inner, value)
    if origin in (list, List):
        return [_convert(args[0], v) for v in value]
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return decode(hint, value)
    return value


def decode(cls: Type[T], data: Any) -> T:
    """Builds ``cls`` (one of the classes above) from the node's JSON answer."""
    hook = getattr(cls, "_from_json", None)
    if hook is not None:
        return typing.cast(T, hook(data))
    if not isinstance(data, dict):
        raise TypeError(f"{cls.__name__} expects a JSON object, not {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - set(fields)
    if STRICT and unknown:
        raise TypeError(f"{cls.__name__} lacks fields the node sent: {sorted(unknown)}")
    kwargs = {name: _convert(hints[name], data[name]) for name in fields if name in data}
    return cls(**kwargs)


def decode_list(cls: Type[T], data: Any) -> List[T]:
    """A list of ``cls`` from the node's JSON answer."""
    return [decode(cls, d) for d in data]
