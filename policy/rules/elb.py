"""ELB rules: the load balancer, its listeners and target groups (ELB.1, .4, .5, .6, .12, .13, .17, and a good
practice)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from .core import UNKNOWN, ResourceRule, as_list, show, value_at, value_check

LOAD_BALANCER: Final = frozenset({"aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer"})
LISTENER: Final = frozenset({"aws:lb/listener:Listener", "aws:alb/listener:Listener"})
TARGET_GROUP: Final = frozenset({"aws:lb/targetGroup:TargetGroup", "aws:alb/targetGroup:TargetGroup"})
RECOMMENDED_TLS_POLICY: Final = "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09"


def _is_application_lb(props: Mapping[str, Any]) -> bool:
    return value_at(props, "loadBalancerType") in (None, UNKNOWN, "application")


def _access_logs(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    if not _is_application_lb(props):
        return []
    enabled, bucket = value_at(props, "accessLogs.enabled"), value_at(props, "accessLogs.bucket")
    if (enabled is True or enabled is UNKNOWN) and (bucket is UNKNOWN or bucket):
        return []
    return [
        f"accessLogs is {show(value_at(props, 'accessLogs'))}; set access_logs=aws.lb.LoadBalancerAccessLogsArgs("
        "bucket=<log bucket>, prefix=..., enabled=True)"
    ]


ELB_5_ACCESS_LOGS = ResourceRule(
    id="elb-5-access-logs",
    control="ELB.5",
    description="Application load balancers write access logs to S3",
    applies_to_dev=False,  # optional in dev
    resource_types=LOAD_BALANCER,
    check=_access_logs,
)


def _two_subnets(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    subnets, mappings = as_list(value_at(props, "subnets")), as_list(value_at(props, "subnetMappings"))
    if subnets is UNKNOWN or mappings is UNKNOWN:
        return []
    subnet_ids = subnets or [value_at(mapping, "subnetId") for mapping in mappings]
    # Unknown ids count one each: they are distinct subnets the preview cannot name yet.
    count = len({s for s in subnet_ids if s is not UNKNOWN}) + sum(s is UNKNOWN for s in subnet_ids)
    if count >= 2:
        return []
    return [f"the load balancer has {count} subnet(s) {subnet_ids!r}; set subnets= one subnet in each of >= 2 zones"]


ELB_13_MULTI_AZ = ResourceRule(
    id="elb-13-multi-az",
    control="ELB.13",
    description="Load balancers span at least two availability zones (two subnets)",
    applies_to_dev=True,
    resource_types=LOAD_BALANCER,
    check=_two_subnets,
)


_REDIRECT_TO_HTTPS: Final = {"port": "443", "protocol": "HTTPS", "statusCode": "HTTP_301"}


def _redirects_to_https(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    if value_at(props, "protocol") not in (None, "HTTP"):  # None: an ALB listener's default protocol is HTTP
        return []
    actions = as_list(value_at(props, "defaultActions"))
    if actions is UNKNOWN:
        return []
    for action in actions:
        if action is UNKNOWN:
            return []
        redirect = value_at(action, "redirect")
        if value_at(action, "type") == "redirect" and all(
            value_at(redirect, key) in (want, UNKNOWN) for key, want in _REDIRECT_TO_HTTPS.items()
        ):
            return []
    shown = [{"type": value_at(a, "type"), "redirect": value_at(a, "redirect")} for a in actions]
    return [
        f"HTTP listener on port {show(value_at(props, 'port'))} has default actions {shown!r}; set default_actions="
        '[{"type": "redirect", "redirect": {"port": "443", "protocol": "HTTPS", "status_code": "HTTP_301"}}]'
    ]


ELB_1_HTTP_REDIRECTS_TO_HTTPS = ResourceRule(
    id="elb-1-http-redirects-to-https",
    control="ELB.1",
    description="HTTP listeners redirect to HTTPS (port 443, HTTP_301)",
    applies_to_dev=False,  # dev serves plain HTTP when no domain is set
    resource_types=LISTENER,
    check=_redirects_to_https,
)


def _https_listener(props: Mapping[str, Any]) -> bool:
    return value_at(props, "protocol") == "HTTPS"


ELB_4_DROP_INVALID_HEADERS = ResourceRule(
    id="elb-4-drop-invalid-headers",
    control="ELB.4",
    description="Application load balancers drop invalid HTTP header fields",
    applies_to_dev=True,
    resource_types=LOAD_BALANCER,
    check=value_check(
        "dropInvalidHeaderFields",
        lambda v: v is True,
        "drop_invalid_header_fields=True (provider default False)",
        _is_application_lb,
    ),
)


ELB_6_DELETION_PROTECTION = ResourceRule(
    id="elb-6-deletion-protection",
    control="ELB.6",
    description="Load balancers have deletion protection enabled",
    applies_to_dev=False,  # dev is torn down freely
    resource_types=LOAD_BALANCER,
    check=value_check(
        "enableDeletionProtection", lambda v: v is True, "enable_deletion_protection=True (provider default False)"
    ),
)


ELB_12_DESYNC_MITIGATION = ResourceRule(
    id="elb-12-desync-mitigation",
    control="ELB.12",
    description="Application load balancers use desync mitigation mode defensive or strictest, never monitor",
    applies_to_dev=True,
    resource_types=LOAD_BALANCER,
    check=value_check(
        "desyncMitigationMode",
        lambda v: v in (None, "defensive", "strictest"),
        'desync_mitigation_mode="defensive" (the default) or "strictest"',
        _is_application_lb,
    ),
)


ELB_17_TLS_POLICY = ResourceRule(
    id="elb-17-tls-policy",
    control="ELB.17",
    description=f"HTTPS listeners use the TLS policy {RECOMMENDED_TLS_POLICY}",
    applies_to_dev=False,  # dev has no HTTPS listener when no domain is set
    resource_types=LISTENER,
    check=value_check(
        "sslPolicy",
        lambda v: v == RECOMMENDED_TLS_POLICY,
        f'ssl_policy="{RECOMMENDED_TLS_POLICY}" (the provider default ELBSecurityPolicy-2016-08 fails ELB.17)',
        _https_listener,
    ),
)


# A deregistered target that stops at once fails the requests still in flight on it (502s), and ALB nodes
# learn of a deregistration over a few seconds, sending it new requests meanwhile: measured in the deploy
# rehearsal (docs/rehearsal.md, "The deregistration delay"): 749-879 failed requests at 0 s, none once the delay
# covered the nodes' lag.
ELB_TARGET_GROUP_DRAINS = ResourceRule(
    id="elb-target-group-drains",
    control="Good practice",
    description="Target groups drain a leaving target (deregistration delay above 0)",
    applies_to_dev=True,
    resource_types=TARGET_GROUP,
    check=value_check(
        "deregistrationDelay",
        lambda v: v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0),
        "deregistration_delay= a few seconds or more: a target stopped at once fails its requests in flight "
        "(provider default 300)",
    ),
)
