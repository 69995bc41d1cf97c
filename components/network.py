"""Network: a VPC over two or more availability zones, public subnets for the load balancer and,
with NAT, private subnets for the replicas."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_aws as aws
import pulumi_awsx as awsx

from components.aws_tables import FARGATE_REGIONS_PAGE, FARGATE_ZONE_IDS
from components.errors import SettingsError
from components.options import NatGateways, subnet_prefix_length

_NAT_STRATEGY = {
    "none": awsx.ec2.NatGatewayStrategy.NONE,
    "single": awsx.ec2.NatGatewayStrategy.SINGLE,
    "onePerAz": awsx.ec2.NatGatewayStrategy.ONE_PER_AZ,
}


def choose_zones(region: str, names: list[str], zone_ids: list[str], az_count: int) -> list[str]:
    """The first `az_count` zone names, by name, among the region's zones Fargate runs in.

    Raises SettingsError naming the region and the zones it offers when there are too few.
    """
    fargate_ids = FARGATE_ZONE_IDS.get(region)
    usable = sorted(
        name for name, zone_id in zip(names, zone_ids, strict=True) if fargate_ids is None or zone_id in fargate_ids
    )
    if len(usable) >= az_count:
        return usable[:az_count]
    if fargate_ids is None:
        where = f"the region has {len(usable)} ({', '.join(usable)})"
    else:
        where = (
            f"Fargate runs in only {len(usable)} zones of {region} ({', '.join(usable) or 'none'}; "
            f"it runs in zone IDs {', '.join(fargate_ids)} there, as of AWS's page {FARGATE_REGIONS_PAGE})"
        )
    raise SettingsError(f"{az_count} zones asked for, but {where}; allowed: 2 to {len(usable)}", argument="az_count")


@dataclass(frozen=True)
class NetworkArgs:
    az_count: int = 2
    """Availability zones to span. @default 2: the fewest an ALB accepts (ELB.13)."""
    cidr_block: str = "10.0.0.0/16"
    """IPv4 range of the VPC. @default 10.0.0.0/16: room for every subnet layout used here."""
    nat_gateways: NatGateways = "none"
    """NAT gateways. @default "none": replicas go in public subnets with a public IP, since a NAT
    gateway costs more than the rest of a small stack; "single" or "onePerAz" adds private subnets."""
    flow_logs: bool = False
    """Log rejected traffic of the VPC to CloudWatch Logs (EC2.6). @default False: costs per GB."""
    log_retention_days: int = 7
    """Days flow logs are kept. @default 7."""


@dataclass(frozen=True)
class SubnetPlan:
    tier: Literal["public", "private"]
    zone: str
    cidr: str


def subnet_plan(cidr_block: str, zones: list[str], private: bool) -> list[SubnetPlan]:
    """One public subnet per zone, then (with NAT) one private subnet per zone, equal in size.

    Room for the private tier is kept even without NAT, so that turning NAT on later adds subnets
    instead of renumbering, and so replacing, the public ones (and everything in them).
    """
    vpc = ipaddress.ip_network(cidr_block)
    blocks = list(vpc.subnets(new_prefix=subnet_prefix_length(vpc.prefixlen, len(zones))))
    public = [SubnetPlan("public", zone, str(block)) for zone, block in zip(zones, blocks[: len(zones)], strict=True)]
    if not private:
        return public
    private_blocks = blocks[len(zones) : 2 * len(zones)]
    return public + [SubnetPlan("private", zone, str(block)) for zone, block in zip(zones, private_blocks, strict=True)]


def no_public_ip_on_launch(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
    """Turn off mapPublicIpOnLaunch on the subnets awsx creates (EC2.15).

    Nothing here needs it: the ALB's nodes and NAT gateways get their addresses anyway, and dev
    replicas ask for a public IP through the ECS service. awsx has no argument for it, so this
    transform edits the subnets awsx's plugin registers (their properties use Pulumi's names).
    """
    if args.type_ != "aws:ec2/subnet:Subnet":
        return None
    return pulumi.ResourceTransformResult(props={**args.props, "mapPublicIpOnLaunch": False}, opts=args.opts)


class Network(pulumi.ComponentResource):
    """A VPC across `az_count` zones: public subnets for the load balancer, and with NAT private
    subnets for the replicas. The VPC's default security group is emptied (EC2.2).

    Changing `az_count`, `nat_gateways` from or to "none", or `cidr_block` replaces subnets and
    everything in them; so does a new major version of awsx.
    """

    vpc: awsx.ec2.Vpc
    vpc_id: pulumi.Output[str]
    public_subnet_ids: pulumi.Output[list[str]]
    private_subnet_ids: pulumi.Output[list[str]]
    replica_subnet_ids: pulumi.Output[list[str]]
    """Where the replicas run: private subnets with NAT, else public ones."""
    replicas_in_private_subnets: bool
    zones: list[str]
    subnets: list[SubnetPlan]
    replica_subnet_zones: dict[str, str]
    """CIDR -> zone of the replicas' subnets, so `verify` can count answers per zone."""
    default_security_group: aws.ec2.DefaultSecurityGroup
    flow_log: aws.ec2.FlowLog | None

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        if args.az_count < 2:
            raise SettingsError(
                f"{args.az_count} is too few; an ALB needs subnets in at least 2 zones", argument="az_count"
            )
        super().__init__("alb-replicas:network:Network", name, None, opts)
        child_opts = pulumi.ResourceOptions(parent=self)

        invoke_opts = pulumi.InvokeOptions(parent=self)
        available = aws.get_availability_zones(
            state="available",
            # Local Zones and Wavelength Zones cannot hold an ALB's subnets.
            filters=[aws.GetAvailabilityZonesFilterArgs(name="opt-in-status", values=["opt-in-not-required"])],
            opts=invoke_opts,
        )
        region = aws.get_region(opts=invoke_opts).region
        self.zones = choose_zones(region, list(available.names), list(available.zone_ids), args.az_count)
        self.replicas_in_private_subnets = args.nat_gateways != "none"
        self.subnets = subnet_plan(args.cidr_block, self.zones, private=self.replicas_in_private_subnets)

        def spec(tier: Literal["public", "private"], kind: awsx.ec2.SubnetType) -> awsx.ec2.SubnetSpecArgs:
            return awsx.ec2.SubnetSpecArgs(
                type=kind, name=tier, cidr_blocks=[s.cidr for s in self.subnets if s.tier == tier]
            )

        specs = [spec("public", awsx.ec2.SubnetType.PUBLIC)]
        if self.replicas_in_private_subnets:
            specs.append(spec("private", awsx.ec2.SubnetType.PRIVATE))

        self.vpc = awsx.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.cidr_block,
            availability_zone_names=self.zones,
            subnet_strategy=awsx.ec2.SubnetAllocationStrategy.AUTO,
            subnet_specs=specs,
            nat_gateways=awsx.ec2.NatGatewayConfigurationArgs(strategy=_NAT_STRATEGY[args.nat_gateways]),
            # Fargate tasks get host names from the VPC's DNS (the replica reports its own).
            enable_dns_hostnames=True,
            enable_dns_support=True,
            opts=pulumi.ResourceOptions(parent=self, transforms=[no_public_ip_on_launch]),
        )
        self.vpc_id = self.vpc.vpc_id
        self.public_subnet_ids = self.vpc.public_subnet_ids
        self.private_subnet_ids = self.vpc.private_subnet_ids
        self.replica_subnet_ids = (
            self.private_subnet_ids if self.replicas_in_private_subnets else self.public_subnet_ids
        )
        replica_tier = "private" if self.replicas_in_private_subnets else "public"
        self.replica_subnet_zones = {s.cidr: s.zone for s in self.subnets if s.tier == replica_tier}

        # Adopting the default security group with no rules empties it (EC2.2): nothing can use it.
        self.default_security_group = aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg", vpc_id=self.vpc_id, opts=child_opts
        )

        self.flow_log = self._flow_log(name, args, child_opts) if args.flow_logs else None

        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "public_subnet_ids": self.public_subnet_ids,
                "private_subnet_ids": self.private_subnet_ids,
            }
        )

    def _flow_log(self, name: str, args: NetworkArgs, child_opts: pulumi.ResourceOptions) -> aws.ec2.FlowLog:
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs", retention_in_days=args.log_retention_days, opts=child_opts
        )
        role = aws.iam.Role(
            f"{name}-flow-logs",
            description="Lets VPC Flow Logs write the VPC's rejected traffic to CloudWatch Logs",
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
            opts=child_opts,
        )
        aws.iam.RolePolicy(
            f"{name}-flow-logs",
            role=role.id,
            policy=log_group.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        # AWS's sample policy (VPC user guide, "IAM role for publishing flow logs to CloudWatch
                        # Logs") grants all of these on "*". Writing is kept to this group; listing the log
                        # groups works only on "*", since DescribeLogGroups lists the account's groups.
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                                "Resource": [arn, f"{arn}:*"],
                            },
                            {"Effect": "Allow", "Action": ["logs:DescribeLogGroups"], "Resource": "*"},
                        ],
                    }
                )
            ),
            opts=child_opts,
        )
        return aws.ec2.FlowLog(
            f"{name}-flow-log",
            vpc_id=self.vpc_id,
            traffic_type="REJECT",
            log_destination_type="cloud-watch-logs",
            log_destination=log_group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=600,
            opts=child_opts,
        )
