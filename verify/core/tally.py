"""What a measurement returns: the raw answers, counted, with no judgement in them."""

from __future__ import annotations

from dataclasses import dataclass, field

from verify.core.addresses import family


@dataclass
class ConnectionLog:
    """The answers that came back over one kept-alive connection, in the order they were sent.

    `address` is the balancer node the connection is pinned to; `replicas` holds one replica id per
    successful answer and `sent_at` the perf_counter time its request was sent (an ALB node or HAProxy
    picks a replica when a request arrives, so send order is the order the balancer saw).
    """

    address: str
    replicas: list[str] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)
    answers: int = 0  # every answer over the connection
    errors: int = 0  # every failed request over it


@dataclass(frozen=True)
class NodeCounts:
    """What one balancer node (one address of the name) did: requests sent to it, answers, errors."""

    address: str
    requests: int
    answers: int
    errors: int

    @property
    def family(self) -> str:
        """ "IPv4" or "IPv6": which of the balancer's addresses this node was reached by."""
        return family(self.address)


@dataclass(frozen=True)
class TargetState:
    """One registered target as the balancer's health checks see it."""

    target: str  # "ip:port"
    state: str  # as the source says it: HAProxy's "UP", "DOWN", "UP 1/2", "MAINT"...; AWS's "healthy", "draining"...


@dataclass(frozen=True)
class TargetWork:
    """What one replica did, from the access logs: its 5xx (the ELB's and its own) and its work."""

    replica: str
    requests: int  # every request the balancer sent it (answered or not)
    elb_5xx: int  # requests it got that the ELB answered with a 5xx (502: it reset or refused; 504: too slow)
    target_5xx: int  # 5xx it answered itself
    work_s: float  # sum of target_processing_time over the requests it answered
    p95_s: float | None  # the 95th percentile of target_processing_time


# What every reading of access logs says beside its counts (AWS's user guide, "Access logs for your
# Application Load Balancer").
BEST_EFFORT = (
    "AWS writes access logs best effort, not as a complete accounting of every request: these counts are"
    " the requests the balancer logged"
)


@dataclass(frozen=True)
class LogReading:
    """How an access-log tally was read: where from, over which window, and what was left out and why."""

    source: str  # the folder, files or s3:// prefix, or the Athena table
    engine: str  # "duckdb" or "athena"
    since: str  # the window, as the ALB writes `time`
    until: str
    files: int  # log files read (or 0 when the engine does not say)
    bytes_read: int  # compressed bytes read, or scanned by Athena
    outside_window: int  # complete lines outside the window (or another client's, with a user-agent filter)
    no_target: dict[str, int]  # ELB status code -> requests in the window that reached no target ("-")
    skipped: dict[str, int]  # named outcome ("not UTF-8", "truncated or malformed line", ...) -> lines or files
    targets: tuple[TargetWork, ...]
    nodes: tuple[NodeCounts, ...]  # per balancer node (from the file names)
    order_note: str | None = None  # why the order of requests was not (fully) read
    cost_usd: float | None = None  # Athena: the data scanned at the list price


@dataclass(frozen=True)
class Phase:
    """A moment someone else marked while verify measured (the rehearsal's deploy: "new replicas healthy")."""

    second: float  # since the measurement began, as the timeline counts
    text: str


@dataclass
class Second:
    """What happened to the requests sent in one elapsed second of the measurement (0 = the first)."""

    second: int
    requests: int = 0
    errors: dict[str, int] = field(default_factory=dict)  # kind -> count, as in Tally.errors
    replicas: dict[str, int] = field(default_factory=dict)  # replica id -> answers

    @property
    def answers(self) -> int:
        return sum(self.replicas.values())


@dataclass
class Tally:
    """Everything one run of the measuring layer saw."""

    url: str
    addresses: tuple[str, ...]  # what the name resolved to: the balancer nodes
    warmup_replicas: tuple[str, ...]  # replicas that answered while waiting for ready, first seen first
    requests: int = 0  # requests sent while measuring (answers + errors)
    counts: dict[str, int] = field(default_factory=dict)  # replica id -> answers
    latencies_ms: dict[str, list[float]] = field(default_factory=dict)  # replica id -> latency of each answer
    # kind ("HTTP 503", "timeout", ...; "... from <address>" when the name has several) -> count
    errors: dict[str, int] = field(default_factory=dict)
    cookies: dict[str, int] = field(default_factory=dict)  # cookie name (escaped) -> answers that set it
    connections: list[ConnectionLog] = field(default_factory=list)
    elapsed_s: float = 0.0
    started_at: float = 0.0  # the wall clock (time.time()) when the measurement began: second 0 of the timeline
    deadline_hit: bool = False  # the measurement ran out of time before sending every request
    duration_s: float | None = None  # the run sent for this long (--duration) instead of a request count
    timeline: list[Second] = field(default_factory=list)  # one entry per elapsed second with requests sent
    # "start" and "end" of the measurement -> the targets the balancer listed then; None: not checked
    target_health: dict[str, tuple[TargetState, ...]] | None = None
    target_health_notes: list[str] = field(default_factory=list)  # why target health was not (fully) read
    access_logs: LogReading | None = None  # set when the tally was read from the ALB's access logs
    phases: tuple[Phase, ...] | None = None  # --phases: what was marked during the run; None: not asked

    @property
    def answers(self) -> int:
        return sum(self.counts.values())

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def node_counts(self) -> tuple[NodeCounts, ...]:
        """One entry per balancer node some connection was pinned to, in the order the name resolved."""
        if self.access_logs is not None:
            return self.access_logs.nodes
        answers: dict[str, int] = {}
        errors: dict[str, int] = {}
        for log in self.connections:
            answers[log.address] = answers.get(log.address, 0) + log.answers
            errors[log.address] = errors.get(log.address, 0) + log.errors
        return tuple(
            NodeCounts(address, answers[address] + errors[address], answers[address], errors[address])
            for address in self.addresses
            if address in answers
        )
