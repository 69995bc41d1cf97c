"""What a stack costs a month, from its settings alone: a dated list-price table and a pure function.

Prices are AWS's us-east-1 list prices (Linux, 730 hours a month) as published in 2025 on these
pages; check them for today's:
  https://aws.amazon.com/elasticloadbalancing/pricing/   ALB hours and LCU-hours
  https://aws.amazon.com/fargate/pricing/                vCPU- and GB-hours, x86 and ARM64, Spot
  https://aws.amazon.com/vpc/pricing/                    public IPv4 addresses, NAT gateways
  https://aws.amazon.com/cloudwatch/pricing/             log ingestion, vended logs, custom metrics
  https://aws.amazon.com/s3/pricing/                     S3 Standard storage
Other regions are priced as us-east-1 and marked approximate (most cost a few per cent more).
What the settings do not decide (traffic, log volume) is an assumption, named once below.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from settings import StackSettings

PRICES_AS_OF = "2025"
PRICES_REGION = "us-east-1"
HOURS_PER_MONTH = 730

# USD list prices in PRICES_REGION as of PRICES_AS_OF.
ALB_HOUR = 0.0225
LCU_HOUR = 0.008
FARGATE_VCPU_HOUR = {"X86_64": 0.04048, "ARM64": 0.03238}
FARGATE_GB_HOUR = {"X86_64": 0.004445, "ARM64": 0.00356}
# Fargate Spot's discount on the on-demand price, both architectures: AWS's "up to 70 %". Spot
# prices move, so Spot items are the low end (dev: $36.21 at 70 %, $38.37 at 60 %, $40.53 at 50 %).
SPOT_DISCOUNT = 0.70
PUBLIC_IPV4_HOUR = 0.005
NAT_GATEWAY_HOUR = 0.045
NAT_GB_PROCESSED = 0.045
LOG_GB_INGESTED = 0.50
VENDED_LOG_GB = 0.50  # flow logs to CloudWatch Logs
METRIC_MONTH = 0.30  # custom metrics, first 10,000

# What the settings do not decide, assumed for a lightly used stack.
ALB_LCUS = 1.0
"""Average load balancer capacity units in use: one LCU is 25 new connections/s, 3,000 active
connections, 1 GB/h processed or 1,000 rule evaluations/s. An idle ALB uses almost none."""
CONTAINER_LOG_GB_PER_REPLICA = 0.1
"""Logs a replica writes a month: the nginx replica logs errors only (access_log off)."""
CONTAINER_INSIGHTS_METRICS = 35
"""Container Insights (standard) metrics for one cluster with one service: about ten each per
cluster, service and task family, plus the task and deployment counts."""
FLOW_LOG_GB = 1.0
"""Rejected-traffic flow logs a month: internet scanners knocking on closed ports."""
NAT_GB = 5.0
"""Data through the NAT gateways a month: image pulls and log delivery, no VPC endpoints."""
ACCESS_LOG_GB = 1.0
"""ALB access logs written a month; kept for accessLogRetentionDays."""
S3_GB_MONTH = 0.023


def monthly_cost(settings: StackSettings, region: str | None) -> dict[str, Any]:
    """The stack's monthly cost at `replicas` tasks: {total_usd, items, region, prices_as_of, ...}.

    `items` maps each cost to USD, rounded to cents; the total is their sum. `region` is where the
    stack runs (None: not known); prices are PRICES_REGION's, so any other is `approximate`.
    `by_addressing` is the total under each of ADDRESSINGS, the stack's own included.
    """
    items = _items(settings)
    return {
        **_totals(items),
        "region": region,
        "prices_as_of": PRICES_AS_OF,
        "prices_region": PRICES_REGION,
        "approximate": region != PRICES_REGION,
        "per_extra_replica_usd": round(_extra_replica(settings), 2),
        "by_addressing": {
            label: _totals(_items(alternative))["total_usd"]
            for label, alternative in addressing_alternatives(settings).items()
        },
    }


def _items(settings: StackSettings) -> dict[str, float]:
    """Each monthly cost of the stack in USD, unrounded."""
    hours = HOURS_PER_MONTH
    items: dict[str, float] = {
        "alb_hours": ALB_HOUR * hours,
        "alb_lcu_estimate": ALB_LCUS * LCU_HOUR * hours,
    }

    spot, replicas = settings.capacity.spot, settings.replicas
    on_demand_tasks = min(settings.capacity.on_demand_base, replicas) if spot else replicas
    architecture = settings.cpu_architecture.lower()
    for capacity, tasks in (("on_demand", on_demand_tasks), ("spot", replicas - on_demand_tasks)):
        if tasks:
            items[f"fargate_vcpu_{capacity}_{architecture}"] = tasks * _task_vcpu_hour(settings, capacity) * hours
            items[f"fargate_memory_{capacity}_{architecture}"] = tasks * _task_gb_hour(settings, capacity) * hours

    nat_gateways = {"none": 0, "single": 1, "onePerAz": settings.az_count}[settings.nat_gateways]
    ip_month = PUBLIC_IPV4_HOUR * hours
    # One node per zone, each with a public IPv4 address, dual-stack or not (IPv4 clients reach it); the
    # egress-only internet gateway of IPv6-only replicas costs nothing (VPC pricing page).
    items["public_ipv4_alb_nodes"] = settings.az_count * ip_month
    if settings.task_public_ipv4:
        items["public_ipv4_tasks"] = settings.replicas * ip_month
    if nat_gateways:
        items["public_ipv4_nat_gateways"] = nat_gateways * ip_month
        items["nat_gateway_hours"] = nat_gateways * NAT_GATEWAY_HOUR * hours
        items["nat_data_estimate"] = NAT_GB * NAT_GB_PROCESSED

    items["container_logs_estimate"] = settings.replicas * CONTAINER_LOG_GB_PER_REPLICA * LOG_GB_INGESTED
    if settings.container_insights:
        items["container_insights_metrics"] = CONTAINER_INSIGHTS_METRICS * METRIC_MONTH
    if settings.flow_logs:
        items["flow_logs_estimate"] = FLOW_LOG_GB * VENDED_LOG_GB
    if settings.access_logs:
        stored_gb = ACCESS_LOG_GB * settings.access_log_retention_days / 30
        items["access_logs_storage_estimate"] = stored_gb * S3_GB_MONTH
    return items


# The replicas' addressings `estimate` sets side by side, each as the stack would be with it and nothing else
# changed: IPv6-only, and IPv4 both ways natGateways offers (a public IPv4 on each task, or private subnets
# behind one NAT gateway per zone, as prod ran before IPv6-only replicas).
ADDRESSINGS: dict[str, dict[str, str]] = {
    "ipv6-only": {"replica_addressing": "ipv6-only", "nat_gateways": "none"},
    "ipv4-public-tasks": {"replica_addressing": "ipv4", "nat_gateways": "none"},
    "ipv4-nat-per-zone": {"replica_addressing": "ipv4", "nat_gateways": "onePerAz"},
}


def addressing_alternatives(settings: StackSettings) -> dict[str, StackSettings]:
    """The stack under each of ADDRESSINGS (its own among them), for the side-by-side totals."""
    return {label: dataclasses.replace(settings, **changes) for label, changes in ADDRESSINGS.items()}


def _totals(items: dict[str, float]) -> dict[str, Any]:
    """The items rounded to cents, and their sum."""
    rounded = {name: round(usd, 2) for name, usd in items.items()}
    return {"total_usd": round(sum(rounded.values()), 2), "items": rounded}


def _task_vcpu_hour(settings: StackSettings, capacity: str) -> float:
    return settings.cpu / 1024 * FARGATE_VCPU_HOUR[settings.cpu_architecture] * _capacity_factor(capacity)


def _task_gb_hour(settings: StackSettings, capacity: str) -> float:
    return settings.memory / 1024 * FARGATE_GB_HOUR[settings.cpu_architecture] * _capacity_factor(capacity)


def _capacity_factor(capacity: str) -> float:
    return 1 - SPOT_DISCOUNT if capacity == "spot" else 1.0


def _extra_replica(settings: StackSettings) -> float:
    return extra_replica_hour(settings) * HOURS_PER_MONTH


def extra_replica_hour(settings: StackSettings) -> float:
    """One more task for an hour, as autoscaling or a deploy adds them: above any on-demand base, so
    on Spot when spot; with its public IPv4 address where replicas have one."""
    capacity = "spot" if settings.capacity.spot else "on_demand"
    task_hour = _task_vcpu_hour(settings, capacity) + _task_gb_hour(settings, capacity)
    public_ip_hour = PUBLIC_IPV4_HOUR if settings.task_public_ipv4 else 0.0
    return task_hour + public_ip_hour


def markdown_table(costs: Mapping[str, Mapping[str, Any]]) -> str:
    """The cost table of docs/cost.md: one column per stack, one row per item, then the total."""
    stacks = list(costs)
    names: list[str] = []
    for cost in costs.values():
        names += [name for name in cost["items"] if name not in names]
    # Items of one kind together (alb_, fargate_, public_ipv4_, ...), whichever stack has them.
    kinds = list(dict.fromkeys(name.split("_")[0] for name in names))
    names.sort(key=lambda name: kinds.index(name.split("_")[0]))

    def cell(stack: str, name: str) -> str:
        usd = costs[stack]["items"].get(name)
        return "—" if usd is None else f"${usd:,.2f}"

    lines = [f"| item | {' | '.join(stacks)} |", f"|---|{'---:|' * len(stacks)}"]
    lines += [f"| `{name}` | {' | '.join(cell(stack, name) for stack in stacks)} |" for name in names]
    totals = " | ".join(f"**${costs[stack]['total_usd']:,.2f}**" for stack in stacks)
    lines.append(f"| **total a month** | {totals} |")
    extra = " | ".join(f"+${costs[stack]['per_extra_replica_usd']:,.2f}" for stack in stacks)
    lines.append(f"| each replica autoscaling adds | {extra} |")
    for label in ADDRESSINGS:
        totals = " | ".join(f"${costs[stack]['by_addressing'][label]:,.2f}" for stack in stacks)
        lines.append(f"| total with replicas `{label}` | {totals} |")
    return "\n".join(lines)
