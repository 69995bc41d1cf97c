"""`python -m estimate`: a stack file's monthly cost and deploy times, without Pulumi or AWS."""

from __future__ import annotations

import argparse
import json
import sys
from enum import IntEnum
from typing import Any, NoReturn, TextIO

from components.errors import SettingsError
from components.options import DEPLOYMENT_MAXIMUM_PERCENT
from estimate.cost import markdown_table, monthly_cost
from estimate.deploy_timing import deploy_timing
from settings import from_stack_file
from stack_config import stack_file_region


class ExitCode(IntEnum):
    OK = 0
    BAD_STACK = 2  # a bad argument, no such stack file, or settings the program would refuse


class _BadArguments(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line and exit 2, as verify's and the rehearsal's, not usage text."""

    def error(self, message: str) -> NoReturn:
        raise _BadArguments(f"{message} (see python -m estimate --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m estimate",
        allow_abbrev=False,  # as verify's: --js is not --json, a script's typo fails
        description=(
            "What a stack costs a month (us-east-1 list prices) and how long its deploys take, "
            "from Pulumi.<stack>.yaml alone: the same numbers pulumi up exports."
        ),
    )
    parser.add_argument(
        "--stack", action="append", help="a stack whose Pulumi.<stack>.yaml to read; repeat for more (default: dev)"
    )
    shape = parser.add_mutually_exclusive_group()
    shape.add_argument(
        "--json", action="store_true", help="one JSON object: stack -> {estimated_monthly_cost, deploy_timing}"
    )
    shape.add_argument("--markdown", action="store_true", help="the cost table as docs/cost.md shows it")
    return parser


def estimates(stack: str) -> dict[str, Any]:
    """The two outputs `pulumi up` exports, for the stack file of `stack`."""
    settings = from_stack_file(stack)
    return {
        "estimated_monthly_cost": monthly_cost(settings, region=stack_file_region(stack)),
        "deploy_timing": deploy_timing(settings, maximum_percent=DEPLOYMENT_MAXIMUM_PERCENT),
    }


def main(argv: list[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    try:
        args = build_parser().parse_args(argv)
    except _BadArguments as error:
        print(f"estimate: {error}", file=err)
        return ExitCode.BAD_STACK
    stacks = args.stack or ["dev"]
    try:
        results = {stack: estimates(stack) for stack in stacks}
    except SettingsError as error:
        print(f"estimate: {error.one_line()}", file=err)
        return ExitCode.BAD_STACK
    if args.json:
        print(json.dumps(results, indent=2), file=out)
    elif args.markdown:
        print(markdown_table({stack: r["estimated_monthly_cost"] for stack, r in results.items()}), file=out)
    else:
        for stack, result in results.items():
            _render(stack, result, out)
    return ExitCode.OK


def _render(stack: str, result: dict[str, Any], out: TextIO) -> None:
    cost, timing = result["estimated_monthly_cost"], result["deploy_timing"]
    where = cost["region"] or "region unset"
    caveat = " (priced as us-east-1: approximate)" if cost["approximate"] else ""
    print(f"stack {stack} ({where}): about ${cost['total_usd']:,.2f} a month{caveat}", file=out)
    width = max(len(name) for name in cost["items"])
    for name, usd in cost["items"].items():
        print(f"  {name:<{width}}  ${usd:>8,.2f}", file=out)
    print(f"  each replica autoscaling adds ${cost['per_extra_replica_usd']:,.2f} a month", file=out)
    side_by_side = ", ".join(f"{label} ${usd:,.2f}" for label, usd in cost["by_addressing"].items())
    print(f"  by the replicas' addressing, all else as set: {side_by_side}", file=out)
    print(f"  {cost['prices_region']} list prices of {cost['prices_as_of']}; assumptions: estimate/cost.py", file=out)
    print(
        f"deploy: a new replica is healthy {timing['seconds_to_healthy']} s after it starts answering; "
        f"worst case {timing['worst_case_one_replica_seconds']} s for one replica, "
        f"{timing['worst_case_rolling_deploy_seconds']} s for a rolling deploy",
        file=out,
    )
    print(f"  model: {timing['model']}", file=out)
    print(
        f"  pulumi up gives up on a service that is not steady after {timing['steady_state_timeout_seconds']} s "
        "(as when Spot runs short: ECS never falls back to on demand; see docs/cost.md)",
        file=out,
    )
    print(
        f"  by strategy (this stack's: {timing['strategy']}; bake times as set), both revisions billed meanwhile:",
        file=out,
    )
    for name, strategy in timing["by_strategy"].items():
        shifts = " ".join(f"{share:g}" for share in strategy["production_shifts_percent"]) or "tasks replaced in place"
        print(
            f"    {name:<12} last shift after {strategy['seconds_to_last_shift']:>5} s, both revisions run "
            f"{strategy['seconds_both_revisions_run']:>5} s (${strategy['both_revisions_usd']:.4f}); "
            f"production share of the new revision: {shifts}",
            file=out,
        )
