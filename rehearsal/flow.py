"""A flow on a running rehearsal (a deploy, an interruption), each step said, every wait within one bound;
and verify measuring the whole flow from a process of its own.

A flow waits for events (a replica answering, every node counting it UP, a replica stopped), never for
a planned clock a busy machine misses; all its waits share one bound: what the plan says the flow takes,
times FLOW_BOUND_FACTOR, plus FLOW_BOUND_SLACK_S. A flow still waiting at its bound fails in one line
naming what it waited for and its last step. ECS does the same: it waits for a task's health checks,
not for a clock, within bounds of its own.

verify follows the flow: the rehearsal writes each step to a file verify reads with --phases, and a last
mark, END_MARK, when the flow has ended; verify (--until-mark) measures until then and its judged tail.
Its --duration only bounds it, beyond the flow's own bound.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, TextIO, TypeVar

from rehearsal.processes import Process, RehearsalError, dies_with_this_thread, wait_until
from rehearsal.stage import Running
from stack_config import PROJECT_DIR
from verify.core.numbers import MAX_DURATION_S
from verify.sources.phases import UNTIL_MARK_TAIL_S

Result = TypeVar("Result")

# A machine at load 8 on 2 cores runs each process at about a quarter of its speed: five times the plan
# is generous, and the slack covers what the plan leaves out (Python starting, HAProxy's first checks).
FLOW_BOUND_FACTOR = 5
FLOW_BOUND_SLACK_S = 10.0
# verify measures this long before the flow begins, so its timeline shows the state before it.
LEAD_S = 0.5
# How long verify may wait for the replicas to answer before it measures (its --wait).
VERIFY_WAIT_S = 10.0
# verify's --duration goes this far beyond the flow's bound: the rehearsal, not verify, meets the bound
# first and names the step it was in.
VERIFY_BOUND_SLACK_S = 10.0
# The mark that ends verify's measurement (--until-mark), once the flow has ended.
END_MARK = "ended"
# Answers through the nodes, beyond the replicas' count (the warm-up's one each), that show verify measures.
MEASURING_ANSWERS = 50


@dataclass
class Flow:
    """One flow's steps and its bound. `tell` takes each step as it happens (the rehearsal's output, the
    phases file); `planned_s` is what the plan says the flow takes."""

    what: str  # "deploy", "interrupt": what the one line of an overrun names
    planned_s: float
    tell: Callable[[str], None]
    bound_s: float = -1.0  # -1: flow_bound(planned_s)
    began: float = field(default_factory=time.monotonic)
    step: str = "none yet"

    def __post_init__(self) -> None:
        if self.bound_s < 0:
            self.bound_s = flow_bound(self.planned_s)

    @property
    def deadline(self) -> float:
        """The bound as a time.monotonic() moment."""
        return self.began + self.bound_s

    def say(self, line: str) -> None:
        self.step = line
        self.tell(line)

    def overran(self, waiting_for: str) -> RehearsalError:
        """The one line of a flow still waiting at its bound."""
        return RehearsalError(
            f"{self.what} overran its bound of {self.bound_s:.1f} s (planned: {self.planned_s:.1f} s) waiting for"
            f" {waiting_for}; its last step: {self.step}"
        )

    def wait(self, ready: Callable[[], bool], *, waiting_for: str, watch: Sequence[Process]) -> None:
        """Until `ready` holds, within the flow's bound; fails at once when a watched process fails."""
        remaining_s = max(0.0, self.deadline - time.monotonic())
        wait_until(ready, what=waiting_for, timeout_s=remaining_s, watch=watch, late=self.overran(waiting_for))


def flow_bound(planned_s: float) -> float:
    """The bound on a flow planned to take `planned_s`."""
    return FLOW_BOUND_FACTOR * planned_s + FLOW_BOUND_SLACK_S


def verify_during(
    running: Running,
    action: Callable[[Flow], Result],
    *,
    planned_s: float,
    what: str,
    verify_extra: list[str],
    out: TextIO,
    verify_stdout: IO[str] | None = None,
) -> tuple[int, Result, bool]:
    """`action` (a deploy, an interruption) while verify measures all of it, --max-error-rate 0: from LEAD_S
    before it until END_MARK and the judged tail after it. Returns verify's exit code, the action's result
    and whether verify still measured when the action ended. verify runs in a process of its own, as the
    new replicas must be started by this thread (they die with it); its report goes to `verify_stdout`
    (default: ours). `action` says each step through its flow's `say`."""
    plan = running.plan
    bound_s = min(flow_bound(planned_s), MAX_DURATION_S - LEAD_S - UNTIL_MARK_TAIL_S - VERIFY_BOUND_SLACK_S)
    if bound_s < planned_s:
        raise RehearsalError(
            f"the {what} is planned to take {planned_s:.0f} s, beyond what verify measures in one run"
            f" ({MAX_DURATION_S} s): shorten it with --time-scale"
        )
    duration_s = LEAD_S + bound_s + UNTIL_MARK_TAIL_S + VERIFY_BOUND_SLACK_S
    # In the rehearsal's scratch folder, gone with it (a killed run's with the next run's start).
    with running.scratch_file("phases-") as phases:
        timing = ["--duration", f"{duration_s:.1f}", "--max-error-rate", "0", "--wait", f"{VERIFY_WAIT_S:g}"]
        following = ["--phases", phases.name, "--until-mark", END_MARK]
        verify_argv = [*plan.verify_args(), *timing, *following, *verify_extra]
        print(f"rehearsal: python -m verify {shlex.join(verify_argv)}", file=out, flush=True)

        def mark(line: str) -> None:
            phases.write(f"{time.time():.3f} {line}\n")
            phases.flush()

        def tell(line: str) -> None:
            print(f"rehearsal: {what}: {line}", file=out, flush=True)
            mark(line)

        verify = subprocess.Popen(
            dies_with_this_thread([sys.executable, "-m", "verify", *verify_argv]), cwd=PROJECT_DIR, stdout=verify_stdout
        )
        try:
            _until_measuring(running, verify)
            time.sleep(LEAD_S)
            result = action(Flow(what, planned_s, tell, bound_s=bound_s))
            measured = verify.poll() is None
            mark(END_MARK)
            if not measured:  # it ended on its own (could not measure, interrupted): the flow went unmeasured
                print(f"rehearsal: {what}: verify ended (exit {verify.returncode}) before the {what} did", file=out)
            return verify.wait(), result, measured
        finally:
            if verify.poll() is None:  # Ctrl-C, SIGTERM or an error: verify stops with the rehearsal
                verify.terminate()
                verify.wait()


def _until_measuring(running: Running, verify: subprocess.Popen[bytes]) -> None:
    """Until verify measures: MEASURING_ANSWERS answers through the nodes beyond its warm-up's (about one per
    replica), or verify has ended (it could not measure: its exit code says so). verify's own bounds end
    it: its --wait and --duration."""
    replicas = sum(1 for replica in running.plan.replicas if replica.registered)
    enough = running.answered() + replicas + MEASURING_ANSWERS
    while running.answered() < enough and verify.poll() is None:
        time.sleep(0.02)
