"""What AWS offers and where it runs, as plain tables and checks: no pulumi import, so settings, the
estimate and the rehearsal read a table without loading the cloud SDK (as awsx keeps
`fargateMemoryAndCpu.ts` apart). Each table names the AWS page it was written from. The limits of every
name and number the program sends are components/aws_limits.py's."""

from __future__ import annotations

import re
from typing import Literal, get_args

# A target group's `load_balancing_algorithm_type`. verify and the rehearsal keep their own copies
# (verify imports nothing of the project); tests/test_algorithm_names.py keeps the three equal.
Algorithm = Literal["round_robin", "least_outstanding_requests", "weighted_random"]
ALGORITHMS: tuple[str, ...] = get_args(Algorithm)

# A task definition's `runtime_platform.cpu_architecture` on Fargate.
CpuArchitecture = Literal["ARM64", "X86_64"]
CPU_ARCHITECTURES: tuple[str, ...] = get_args(CpuArchitecture)

# CPU units -> the memory sizes (MiB) Fargate accepts with them, for Linux tasks.
FARGATE_MEMORY: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}

# Regions where Fargate runs in only some zones, and the zone IDs it runs in there, from AWS's
# "Supported Regions for Amazon ECS on AWS Fargate" page (Amazon ECS developer guide, "Linux containers
# on AWS Fargate": "The supported Availability Zone IDs are noted when applicable"), as read on
# 2026-12-04. It lists "Canada (Central) | ca-central-1" with no zone IDs, so Fargate runs in all of
# ca-central-1's zones; an archived copy of an older version said "cac1-az1 & cac1-az2 only". Zone
# names map to different zone IDs in each account, so only the ID says which zone it is. Other
# regions: Fargate in every zone.
FARGATE_REGIONS_PAGE = "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/AWS_Fargate-Regions.html"
FARGATE_ZONE_IDS: dict[str, tuple[str, ...]] = {
    "us-west-1": ("usw1-az1", "usw1-az3"),
    "ap-northeast-1": ("apne1-az1", "apne1-az2", "apne1-az4"),
    "cn-north-1": ("cnn1-az1", "cnn1-az2"),
}

# Regions where ECS runs tasks in IPv6-only subnets, from the ECS developer guide's "Amazon ECS task networking
# options for Fargate", section "AWS Regions that support IPv6-only mode for Amazon ECS" (read 2026-12-05; it
# names them, mapped here to their codes). Europe (Ireland), (Stockholm) and (Zurich), among others, are not on it.
ECS_IPV6_ONLY_PAGE = "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-task-networking.html"
# fmt: off
IPV6_ONLY_REGIONS: frozenset[str] = frozenset({
    "us-east-2", "us-east-1", "us-west-1", "us-west-2", "af-south-1", "ap-east-1", "ap-south-2",
    "ap-southeast-3", "ap-southeast-4", "ap-south-1", "ap-northeast-3", "ap-northeast-2", "ap-southeast-1",
    "ap-southeast-2", "ap-northeast-1", "ca-central-1", "ca-west-1", "cn-north-1", "cn-northwest-1",
    "eu-central-1", "eu-west-2", "eu-south-1", "eu-west-3", "eu-south-2", "il-central-1", "me-south-1",
    "me-central-1", "sa-east-1", "us-gov-east-1", "us-gov-west-1",
})
# fmt: on

# Image registries by the names their IPv4-only and dual-stack endpoints go by. ECR Public user guide, "Making
# requests to Amazon ECR Public registries": OCI and Docker clients reach it over IPv6 at ecr-public.aws.com;
# public.ecr.aws is its IPv4-only name. Amazon ECR user guide, "Making requests to Amazon ECR registries":
# <registry-id>.dkr-ecr.<region>.on.aws, where <registry-id>.dkr.ecr.<region>.amazonaws.com is IPv4-only
# (both read 2026-12-05). ECS requires the dual-stack names for IPv6-only tasks (ECS_IPV6_ONLY_PAGE).
ECR_PUBLIC_IPV4 = "public.ecr.aws"
ECR_PUBLIC_DUAL_STACK = "ecr-public.aws.com"
_ECR_PRIVATE_IPV4 = re.compile(r"^([0-9]{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")
_ECR_PRIVATE_DUAL_STACK = re.compile(r"^[0-9]{12}\.dkr-ecr\.[a-z0-9-]+\.on\.aws$")

# Addresses AWS keeps in every subnet (network, router, DNS, future use, broadcast), from the VPC user
# guide's "Subnet CIDR blocks"; and the free addresses an ALB needs in each of its subnets to be created
# and to scale, from "Subnets for your load balancer" (Application Load Balancers guide). Each Fargate
# task (awsvpc) takes one more address in its subnet.
SUBNET_RESERVED_ADDRESSES = 5
ALB_FREE_ADDRESSES = 8

# ELB.17: the policy the console offers by default now; the provider's default (2016-08) fails it.
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09"

# Who writes ALB access logs, from AWS's "Enable access logs for your Application Load Balancer"
# (Elastic Load Balancing user guide, "Step 2: Attach a policy to your S3 bucket"): in the regions
# available before August 2022, the region's Elastic Load Balancing account, listed below; in every
# region opened since, the log delivery service principal. A table, not aws.elb.get_service_account:
# that invoke knows only its built-in map and fails in the newer regions.
ELB_LOG_DELIVERY = "logdelivery.elasticloadbalancing.amazonaws.com"
# fmt: off
ELB_ACCOUNT_IDS: dict[str, str] = {
    "us-east-1": "127311923021", "us-east-2": "033677994240", "us-west-1": "027434742980",
    "us-west-2": "797873946194", "af-south-1": "098369216593", "ap-east-1": "754344448648",
    "ap-southeast-3": "589379963580", "ap-south-1": "718504428378", "ap-northeast-3": "383597477331",
    "ap-northeast-2": "600734575887", "ap-southeast-1": "114774131450", "ap-southeast-2": "783225319266",
    "ap-northeast-1": "582318560864", "ca-central-1": "985666609251", "eu-central-1": "054676820928",
    "eu-west-1": "156460612806", "eu-west-2": "652711504416", "eu-south-1": "635631232127",
    "eu-west-3": "009996457667", "eu-north-1": "897822967062", "me-south-1": "076674570225",
    "sa-east-1": "507241528517", "us-gov-west-1": "048591011584", "us-gov-east-1": "190560391635",
    "cn-north-1": "638102146993", "cn-northwest-1": "037604701340",
}
# fmt: on


def fargate_size_problem(cpu: int, memory: int) -> str | None:
    """Why cpu/memory is not a size Fargate runs, or None when it is."""
    if cpu not in FARGATE_MEMORY:
        return f"cpu: {cpu} is not a Fargate CPU size; allowed: {', '.join(map(str, FARGATE_MEMORY))}"
    allowed = FARGATE_MEMORY[cpu]
    if memory not in allowed:
        return (
            f"memory: {memory} MiB is not a Fargate pair with cpu {cpu}; allowed with cpu {cpu}: "
            f"{allowed[0]} to {allowed[-1]} MiB ({', '.join(map(str, allowed))})"
        )
    return None


def ipv6_only_region_problem(region: str) -> str | None:
    """Why ECS cannot run IPv6-only tasks in `region`, or None when it can."""
    if region in IPV6_ONLY_REGIONS:
        return None
    return (
        f"ECS runs no IPv6-only tasks in {region} (AWS's list, read 2026-12-05: {ECS_IPV6_ONLY_PAGE}); "
        "allowed: one of its regions, or replicaAddressing ipv4"
    )


def ipv6_image_problem(registry: str) -> str | None:
    """Why an IPv6-only task cannot pull from `registry` (an image reference's host), or None when it can:
    only the dual-stack names AWS documents are known to answer over IPv6."""
    if registry == ECR_PUBLIC_DUAL_STACK or _ECR_PRIVATE_DUAL_STACK.match(registry):
        return None
    if registry == ECR_PUBLIC_IPV4:
        return f"{registry} is ECR Public's IPv4-only name; write its dual-stack name {ECR_PUBLIC_DUAL_STACK} instead"
    private = _ECR_PRIVATE_IPV4.match(registry)
    if private:
        account, region = private.groups()
        dual_stack = f"{account}.dkr-ecr.{region}.on.aws"
        return f"{registry} is ECR's IPv4-only name; write its dual-stack name {dual_stack} instead"
    return (
        f"AWS documents no IPv6 name for the registry {registry[:100]!r}; pull it through an ECR pull-through "
        "cache rule (<account>.dkr-ecr.<region>.on.aws/<prefix>/...), or use replicaAddressing ipv4"
    )
