"""Run the real Pulumi program (or one component) under Pulumi's mocks and record what it declares.

`Mocks.new_resource` sees each resource's inputs; the mock monitor's RegisterResource request also
carries its options (parent, dependencies, ignore_changes) and the inputs as the SDK sends them to the
engine, which the mocks alone do not show, so the harness wraps that one method of the monitor it was
given for the run.

`preview=True` runs the program as a first `pulumi preview` sees it: nothing exists yet, so every new
resource's id and computed outputs are unknown, and so is every input computed from them.
"""

from __future__ import annotations

import ipaddress
import json
import runpy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.session
import pulumi
import yaml
from google.protobuf import struct_pb2
from pulumi.output import Unknown
from pulumi.runtime import settings as runtime_settings

import stack_config
from components.aws_limits import declared_problems

PROJECT_DIR = Path(__file__).resolve().parents[2]
PROJECT = "alb-replicas"
REGION = "us-east-1"
# Zone name -> zone ID. AWS maps names to IDs per account; only the IDs say where a zone really is.
ZONES = {"us-east-1a": "use1-az1", "us-east-1b": "use1-az2", "us-east-1c": "use1-az4", "us-east-1d": "use1-az6"}
# A Local Zone this account opted into: DescribeAvailabilityZones lists it unless asked for the zones that
# need no opt-in, and it cannot hold an ALB's subnets (nor, sorted by name, may it come first).
LOCAL_ZONES = {"us-east-1-bos-1a": "use1-bos1-az1"}
ACCOUNT_ID = "123456789012"
# The domain a fork's owner sets for prod (Pulumi.prod.yaml names none: no placeholder is anyone's zone).
OWN_DOMAIN = {"domain": "app.mycompany.com", "zone": "mycompany.com"}
HOSTED_ZONE_ID = "Z0123456789ABCDEFGHIJ"


@dataclass
class Declared:
    """One resource as the program declared it."""

    type: str
    name: str
    urn: str
    inputs: dict[str, Any]
    parent: str
    dependencies: list[str]
    ignore_changes: list[str]
    properties: struct_pb2.Struct
    """The inputs as the SDK sent them to the engine; in a preview, an unknown is Pulumi's sentinel string."""
    property_dependencies: dict[str, list[str]]
    custom_timeouts: dict[str, str] = field(default_factory=dict)
    """The resource option customTimeouts the SDK sent (create, update, delete), the ones set."""
    aliases: list[str] = field(default_factory=list)
    """The resource option aliases the SDK sent: each a URN, or an alias spec's name."""
    outputs: dict[str, Any] = field(default_factory=dict)
    """What the mocks answered (the inputs, an ARN, what AWS computes); empty for a remote component."""


@dataclass
class Deployment:
    resources: list[Declared]
    exports: dict[str, Any] = field(default_factory=dict)
    error: Exception | None = None
    """What the program raised, if it failed; `resources` then holds what it declared before."""

    def all(self, type_: str) -> list[Declared]:
        # What a failed program declared before it raised is no deployment: `pulumi up` stops there.
        # A test that expects the failure reads `error` and `resources`.
        assert self.error is None, f"the program failed: {self.error!r}"
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: str | None = None) -> Declared:
        found = [r for r in self.all(type_) if name is None or r.name == name]
        assert len(found) == 1, f"expected one {type_} {name or ''}, found {[r.name for r in found]}"
        return found[0]

    def by_urn(self, urn: str) -> Declared:
        return next(r for r in self.resources if r.urn == urn)


class StackMocks(pulumi.runtime.Mocks):
    """Answers like AWS would: inputs come back as outputs, plus the values AWS computes.

    Remote components (awsx) get only the outputs the program reads, not their inputs echoed back:
    their typed outputs would not deserialize from inputs.

    In a preview, like the engine planning a create: the known inputs come back and nothing else, no id
    (an empty id is an unknown one) and no value AWS or awsx would compute.
    """

    def __init__(
        self, region: str = REGION, zones: dict[str, str] | None = None, preview: bool = False, partition: str = "aws"
    ) -> None:
        self.inputs: dict[tuple[str, str], dict[str, Any]] = {}
        self.outputs: dict[tuple[str, str], dict[str, Any]] = {}
        # Listener rule ARN -> target group ARN -> weight: where ECS left a rule's forward (getListenerRule reads it).
        self.live_rules: dict[str, dict[str, int]] = {}
        self.preview = preview
        self.region = region
        # The account's Route 53 public hosted zones: getZone finds only these, as AWS finds only the account's.
        self.hosted_zones = {OWN_DOMAIN["zone"]: HOSTED_ZONE_ID}
        # The region's ARN partition as AWS's endpoints data gives it (aws-cn, aws-us-gov, aws-iso, aws-eusc, ...):
        # a test of another partition names it with its region.
        self.partition = partition
        self.zones = zones if zones is not None else ZONES
        self.local_zones = LOCAL_ZONES if zones is None and region == REGION else {}
        self.network = VpcRules()

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.inputs[(args.typ, args.name)] = dict(args.inputs)
        resource_id, outputs = self._answer(args)
        self.outputs[(args.typ, args.name)] = outputs
        return resource_id, outputs

    def _answer(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        name, inputs = args.name, args.inputs
        problem = self.network.refusal(args.typ, inputs)
        if problem:
            raise ValueError(f"{args.typ} {name}: {problem}")
        # AWS's limits on every name and number (components/aws_limits.py): what AWS or the provider refuses.
        problems = declared_problems(args.typ, name, inputs)
        if problems:
            raise ValueError(f"{args.typ} {name}: AWS refuses {'; '.join(problems)}")
        if args.typ == "aws:ecs/service:Service":
            _refuse_a_deployment_ecs_refuses(inputs)
        if args.typ == "aws:lambda/function:Function":
            _refuse_a_function_lambda_refuses(name, inputs)
        for key in STRATEGY_INPUTS.get(args.typ, ()):
            problem = strategy_problem(inputs.get(key) or [])
            if problem:
                raise ValueError(f"{args.typ} {name}: ECS refuses the capacity provider strategy: {problem}")
        if self.preview:
            known = {} if args.typ == "awsx:ec2:Vpc" else {k: v for k, v in inputs.items() if _is_known(v)}
            return "", known
        arn = f"arn:aws:mock:{self.region}:{ACCOUNT_ID}:{args.typ.split(':')[-1].lower()}/{name}"
        if args.typ == "awsx:ec2:Vpc":
            zones = inputs["availabilityZoneNames"]
            private = any(spec["type"] == "Private" for spec in inputs["subnetSpecs"])
            return f"{name}_id", {
                "vpcId": f"{name}-vpc-id",
                "publicSubnetIds": [f"{name}-public-{zone}" for zone in zones],
                "privateSubnetIds": [f"{name}-private-{zone}" for zone in zones] if private else [],
            }
        outputs: dict[str, Any] = {**inputs, "arn": arn}
        outputs |= self.network.created(args.typ, f"{name}_id", inputs)
        if args.typ == "aws:lb/loadBalancer:LoadBalancer":
            outputs |= {
                "dnsName": f"{name}-1234567890.{self.region}.elb.amazonaws.com",
                "zoneId": "Z35SXDOTRQ7X7K",
                "arnSuffix": f"app/{name}/50dc6c495c0c9188",
            }
        elif args.typ == "aws:lb/targetGroup:TargetGroup":
            outputs |= {"arnSuffix": f"targetgroup/{name}/73e2d6bc24d8a067"}
        elif args.typ == "aws:acm/certificate:Certificate":
            outputs |= {
                "domainValidationOptions": [
                    {
                        "domainName": inputs["domainName"],
                        "resourceRecordName": f"_abc.{inputs['domainName']}.",
                        "resourceRecordType": "CNAME",
                        "resourceRecordValue": "_def.acm-validations.aws.",
                    }
                ]
            }
        elif args.typ == "aws:acm/certificateValidation:CertificateValidation":
            outputs |= {"certificateArn": inputs["certificateArn"]}
        elif args.typ == "aws:route53/record:Record":
            outputs |= {"fqdn": str(inputs["name"]).rstrip(".")}
        elif args.typ == "aws:s3/bucket:Bucket":
            outputs |= {"bucket": f"{name}-bucket", "arn": f"arn:aws:s3:::{name}-bucket"}
        elif args.typ in (
            "aws:ecs/cluster:Cluster",
            "aws:ecs/service:Service",
            "aws:cloudwatch/logGroup:LogGroup",
            "aws:cloudwatch/metricAlarm:MetricAlarm",
        ):
            outputs |= {"name": inputs.get("name") or name}  # a name given is the name AWS keeps
        elif args.typ == "aws:iam/role:Role":
            outputs |= {"name": name, "arn": f"arn:aws:iam::{ACCOUNT_ID}:role/{name}"}
        elif args.typ == "aws:lb/listenerRule:ListenerRule":
            # ELBv2's format (the deploy hook reads it): listener-rule/app/<lb>/<lb id>/<listener id>/<rule id>.
            listener = "app/alb/50dc6c495c0c9188/f2f7dc8efc522ab2"
            outputs |= {
                "arn": f"arn:aws:elasticloadbalancing:{self.region}:{ACCOUNT_ID}:listener-rule/{listener}/{name}"
            }
        elif args.typ == "aws:lambda/function:Function":
            physical = inputs.get("name") or f"{name}-a1b2c3d"  # pulumi-aws's auto-name (aws_limits.AutoName)
            outputs |= {"arn": f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{physical}"}
        return f"{name}_id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        filters = {f["name"]: list(f["values"]) for f in args.args.get("filters") or []}
        zones = self.zones if filters.get("opt-in-status") == ["opt-in-not-required"] else self.zones | self.local_zones
        answers: dict[str, dict[str, Any]] = {
            "aws:index/getAvailabilityZones:getAvailabilityZones": {
                "names": list(zones),
                "zoneIds": list(zones.values()),
            },
            "aws:index/getRegion:getRegion": {"region": self.region, "name": self.region, "id": self.region},
            "aws:index/getPartition:getPartition": {
                "partition": self.partition,
                "id": self.partition,
                "dnsSuffix": "amazonaws.com",
                "reverseDnsPrefix": "com.amazonaws",
            },
            "aws:index/getCallerIdentity:getCallerIdentity": {
                "accountId": ACCOUNT_ID,
                "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/tester",
                "id": ACCOUNT_ID,
                "userId": "AIDAEXAMPLE",
            },
        }
        if args.token == "aws:route53/getZone:getZone":
            name = str(args.args.get("name")).rstrip(".")
            if name not in self.hosted_zones:
                raise ValueError(f"no matching Route 53 Hosted Zone found for {name!r}")  # as the provider fails
            answers[args.token] = {"zoneId": self.hosted_zones[name], "id": self.hosted_zones[name], "name": name}
        if args.token == "aws:lb/getListenerRule:getListenerRule":
            answers[args.token] = self._listener_rule(str(args.args["arn"]))
        if args.token not in answers:
            raise NotImplementedError(f"the mocks do not answer {args.token}")
        return answers[args.token]

    def _listener_rule(self, arn: str) -> dict[str, Any]:
        """DescribeRules of a rule, as the provider's data source gives it: its forward's weights where ECS last
        left them (`live_rules`: ARN -> group ARN -> weight), else as the program declared the rule."""
        if arn in self.live_rules:
            groups = [{"arn": group, "weight": weight} for group, weight in self.live_rules[arn].items()]
        else:
            declared = next(
                (
                    inputs
                    for (typ, name), inputs in self.inputs.items()
                    if self.outputs.get((typ, name), {}).get("arn") == arn
                ),
                None,
            )
            if declared is None:
                raise ValueError(f"no listener rule {arn}")  # as DescribeRules answers RuleNotFound
            groups = [
                {"arn": group["arn"], "weight": group["weight"]}
                for action in declared["actions"]
                for group in action["forward"]["targetGroups"]
            ]
        return {"arn": arn, "actions": [{"type": "forward", "forwards": [{"targetGroups": groups}]}]}


# Lambda's CreateFunction beyond its names and numbers (components/aws_limits.py): a runtime and one
# architecture of botocore's lambda model (Runtime, ArchitecturesList: min 1, max 1), a handler of at most 128
# characters without spaces (Handler).
_LAMBDA_MODEL = botocore.session.get_session().get_service_model("lambda")


def _refuse_a_function_lambda_refuses(name: str, inputs: dict[str, Any]) -> None:
    problems = []
    architectures = inputs.get("architectures") or ["x86_64"]
    if len(architectures) != 1 or architectures[0] not in _LAMBDA_MODEL.shape_for("Architecture").enum:
        problems.append(f"architectures {architectures!r}")
    if inputs.get("runtime") not in _LAMBDA_MODEL.shape_for("Runtime").enum:
        problems.append(f"runtime {inputs.get('runtime')!r}")
    handler = str(inputs.get("handler") or "")
    if not handler or len(handler) > 128 or any(char.isspace() for char in handler):
        problems.append(f"handler {handler!r}")
    if problems:
        raise ValueError(f"aws:lambda/function:Function {name}: Lambda refuses {', '.join(problems)}")


# ECS's traffic shifting (ECS API reference: DeploymentConfiguration, AdvancedConfiguration): what CreateService
# and UpdateService refuse beyond the numbers (those are components/aws_limits.py's).
_SHIFTING_STRATEGIES = ("BLUE_GREEN", "LINEAR", "CANARY")


def _refuse_a_deployment_ecs_refuses(inputs: dict[str, Any]) -> None:
    """Raise as ECS would: a shifting strategy without the alternate group, production listener rule and role on
    its load balancer, or without its linear/canary block. Values not known yet (a preview) pass, as the engine
    would send them only once known."""
    configuration = inputs.get("deploymentConfiguration") or {}
    strategy = configuration.get("strategy")
    if not _is_known(strategy) or strategy in (None, "ROLLING"):
        return
    if strategy not in _SHIFTING_STRATEGIES:
        raise ValueError(f"ECS refuses deployment strategy {strategy!r}")
    for balancer in inputs.get("loadBalancers") or []:
        advanced = balancer.get("advancedConfiguration") or {}
        missing = [
            key for key in ("alternateTargetGroupArn", "productionListenerRule", "roleArn") if not advanced.get(key)
        ]
        if missing:
            raise ValueError(f"ECS refuses {strategy} on a load balancer without advancedConfiguration {missing}")
    if not inputs.get("loadBalancers"):
        raise ValueError(f"ECS refuses {strategy} without a load balancer (no traffic to shift)")
    for kind, block_key in (("LINEAR", "linearConfiguration"), ("CANARY", "canaryConfiguration")):
        if strategy == kind and not configuration.get(block_key):
            raise ValueError(f"ECS refuses {kind} without {block_key}")
    for hook in configuration.get("lifecycleHooks") or []:
        _refuse_a_hook_ecs_refuses(hook)


# botocore's ECS model: DeploymentLifecycleHookStage, and DeploymentLifecycleHook's rules ("You must provide
# this parameter [hookTargetArn] when configuring an AWS_LAMBDA lifecycle hook"; "PAUSE hooks cannot be
# configured at TEST_TRAFFIC_SHIFT or PRODUCTION_TRAFFIC_SHIFT stages"); hookDetails is a JSON document.
HOOK_STAGES = tuple(
    botocore.session.get_session().get_service_model("ecs").shape_for("DeploymentLifecycleHookStage").enum
)


def _refuse_a_hook_ecs_refuses(hook: dict[str, Any]) -> None:
    stages = hook.get("lifecycleStages") or []
    kind = hook.get("targetType") or "AWS_LAMBDA"
    if not stages or any(_is_known(stage) and stage not in HOOK_STAGES for stage in stages):
        raise ValueError(f"ECS refuses lifecycle stages {stages!r}")
    if kind == "AWS_LAMBDA" and not (hook.get("hookTargetArn") and hook.get("roleArn")):
        raise ValueError("ECS refuses an AWS_LAMBDA lifecycle hook without hookTargetArn and roleArn")
    if kind == "PAUSE" and {"TEST_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT"} & set(stages):
        raise ValueError("ECS refuses a PAUSE hook at TEST_TRAFFIC_SHIFT or PRODUCTION_TRAFFIC_SHIFT")
    details = hook.get("hookDetails")
    if details is not None and _is_known(details):
        try:
            document = json.loads(details)
        except ValueError:
            raise ValueError(f"ECS refuses hookDetails that are not JSON: {str(details)[:80]!r}") from None
        if not isinstance(document, dict):
            raise ValueError("ECS refuses hookDetails that are not a JSON object")


# Capacity provider strategies, as the ECS API reference's CapacityProviderStrategyItem gives the rules:
# "Only one capacity provider in a capacity provider strategy can have a base defined"; base 0 to 100000,
# weight 0 to 1000; "When multiple capacity providers are specified within a capacity provider strategy, at
# least one of the capacity providers must have a weight value greater than zero and any capacity providers
# with a weight of 0 can't be used to place tasks. If you specify multiple capacity providers in a strategy
# that all have a weight of 0, any RunTask or CreateService actions using the capacity provider strategy will
# fail." The mocks refuse what AWS refuses and place tasks as those rules say (base's and weight's ranges are
# components/aws_limits.py's, which the mocks apply to every resource).
STRATEGY_INPUTS = {
    "aws:ecs/service:Service": ("capacityProviderStrategies",),
    "aws:ecs/clusterCapacityProviders:ClusterCapacityProviders": ("defaultCapacityProviderStrategies",),
}


def _strategy_items(strategy: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The items with base and weight as whole numbers, 0 where unset (the mocks see numbers as floats)."""
    return [
        {
            "capacityProvider": item["capacityProvider"],
            "base": int(item.get("base") or 0),
            "weight": int(item.get("weight") or 0),
        }
        for item in strategy
    ]


def strategy_problem(strategy: list[dict[str, Any]]) -> str | None:
    """Why ECS refuses `strategy` (items as the program declares them), or None when it takes it."""
    strategy = _strategy_items(strategy)
    bases = [item["capacityProvider"] for item in strategy if item.get("base") or 0]
    weights = [item.get("weight") or 0 for item in strategy]
    if len(bases) > 1:
        return f"a base on {len(bases)} providers ({', '.join(bases)}); only one may have a base"
    if len(strategy) > 1 and not any(weights):
        return "every provider has weight 0; at least one needs a weight above 0"
    return None


def place_tasks(strategy: list[dict[str, Any]], count: int) -> dict[str, int]:
    """Where ECS puts `count` tasks of a service with `strategy`: the base first, on its provider, then the
    rest split by weight. A provider of weight 0 places nothing (in a strategy of several), base included.
    How ECS rounds a share below one task is not documented: largest remainder here, the closest split."""
    strategy = _strategy_items(strategy)
    usable = [item for item in strategy if len(strategy) == 1 or (item.get("weight") or 0) > 0]
    placed = {item["capacityProvider"]: 0 for item in strategy}
    for item in usable:
        base = min(item.get("base") or 0, count - sum(placed.values()))
        placed[item["capacityProvider"]] += base
    rest = count - sum(placed.values())
    total_weight = sum(item.get("weight") or 0 for item in usable) or 1
    shares = {item["capacityProvider"]: rest * (item.get("weight") or 0) / total_weight for item in usable}
    if len(usable) == 1:
        shares = {usable[0]["capacityProvider"]: rest}
    floors = {provider: int(share) for provider, share in shares.items()}
    by_remainder = sorted(shares, key=lambda provider: shares[provider] - floors[provider], reverse=True)
    for provider in by_remainder[: rest - sum(floors.values())]:
        floors[provider] += 1
    for provider, tasks in floors.items():
        placed[provider] += tasks
    return placed


# What EC2 and ELB refuse of an IPv6 network (EC2 API reference: CreateSubnet, CreateRoute; VPC user guide,
# "IPv6-only subnets"; ELB API reference: CreateLoadBalancer, CreateTargetGroup), and the IPv6 block EC2 gives a
# VPC that asks for one (an Amazon-provided /56). Values not known yet (a preview) pass.
AMAZON_IPV6_BLOCK = "2600:1f18:4c2:a600::/56"


class VpcRules:
    """The mocks' memory of the VPCs and subnets declared, to refuse what AWS refuses across resources."""

    def __init__(self) -> None:
        self.vpc_blocks: dict[str, str] = {}
        self.subnets: dict[str, dict[str, Any]] = {}

    def created(self, type_: str, resource_id: str, inputs: dict[str, Any]) -> dict[str, Any]:
        """The outputs AWS computes for a VPC or subnet; both remembered by id."""
        if type_ == "aws:ec2/vpc:Vpc" and inputs.get("assignGeneratedIpv6CidrBlock"):
            self.vpc_blocks[resource_id] = AMAZON_IPV6_BLOCK
            return {"ipv6CidrBlock": AMAZON_IPV6_BLOCK, "ipv6AssociationId": f"{resource_id}-ipv6"}
        if type_ == "aws:ec2/subnet:Subnet":
            self.subnets[resource_id] = dict(inputs)
        return {}

    def refusal(self, type_: str, inputs: dict[str, Any]) -> str | None:
        if not _is_known(inputs):
            return None
        if type_ == "aws:ec2/subnet:Subnet":
            return self._subnet_refusal(inputs)
        if type_ == "aws:ec2/route:Route":
            destinations = [key for key in ("destinationCidrBlock", "destinationIpv6CidrBlock") if inputs.get(key)]
            if len(destinations) != 1:
                return f"CreateRoute takes exactly one destination, not {destinations}"
            if inputs.get("egressOnlyGatewayId") and destinations != ["destinationIpv6CidrBlock"]:
                return "an egress-only internet gateway routes IPv6 only"
        if type_ == "aws:lb/loadBalancer:LoadBalancer" and inputs.get("ipAddressType") == "dualstack":
            without = [s for s in inputs.get("subnets") or [] if not self.subnets.get(s, {}).get("ipv6CidrBlock")]
            if without:
                return f"a dualstack load balancer needs an IPv6 block on every subnet; none on {without}"
        ipv6_group = type_ == "aws:lb/targetGroup:TargetGroup" and inputs.get("ipAddressType") == "ipv6"
        if ipv6_group and inputs.get("targetType") != "ip":
            return "an ipv6 target group must be of target type ip"
        if type_ == "aws:ecs/service:Service":
            network = inputs.get("networkConfiguration") or {}
            native = [s for s in network.get("subnets") or [] if self.subnets.get(s, {}).get("ipv6Native")]
            if network.get("assignPublicIp") and native:
                return f"ECS cannot give a task a public IPv4 address in the IPv6-only subnets {native}"
        return None

    def _subnet_refusal(self, inputs: dict[str, Any]) -> str | None:
        ipv6, native = inputs.get("ipv6CidrBlock"), inputs.get("ipv6Native")
        if native and (inputs.get("cidrBlock") or not ipv6):
            return "an IPv6-only subnet takes an IPv6 block and no IPv4 one"
        if not native and not inputs.get("cidrBlock"):
            return "a subnet that is not IPv6-only needs an IPv4 block"
        if native and inputs.get("privateDnsHostnameTypeOnLaunch") != "resource-name":
            return "an IPv6-only subnet names its instances by resource name (ip-name embeds an IPv4 address)"
        needs_ipv6 = ("assignIpv6AddressOnCreation", "enableResourceNameDnsAaaaRecordOnLaunch", "enableDns64")
        if not ipv6 and any(inputs.get(key) for key in needs_ipv6):
            return f"{[key for key in needs_ipv6 if inputs.get(key)]} need an IPv6 block on the subnet"
        if native and inputs.get("mapPublicIpOnLaunch"):
            return "an IPv6-only subnet has no public IPv4 address to map"
        if ipv6:
            block = ipaddress.ip_network(ipv6)
            vpc_block = self.vpc_blocks.get(inputs.get("vpcId", ""))
            if block.prefixlen != 64:
                return f"a subnet's IPv6 block is a /64, not {ipv6}"
            if vpc_block is None or not block.subnet_of(ipaddress.ip_network(vpc_block)):
                return f"{ipv6} is not within the VPC's IPv6 block {vpc_block}"
        return None


def _is_known(value: Any) -> bool:
    if isinstance(value, Unknown):
        return False
    if isinstance(value, dict):
        return all(_is_known(v) for v in value.values())
    if isinstance(value, list):
        return all(_is_known(v) for v in value)
    return True


def stack_values(stack: str) -> dict[str, object]:
    """The project's keys of Pulumi.<stack>.yaml, without their namespace, as YAML reads them."""
    document = yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text())
    return {key.split(":", 1)[1]: value for key, value in document["config"].items() if key.startswith(f"{PROJECT}:")}


def declare(
    program: Callable[[], None], config: dict[str, str], stack: str = "test", mocks: StackMocks | None = None
) -> Deployment:
    """Run `program` under fresh mocks (by default: us-east-1, not a preview) with `config`: project keys,
    unprefixed, and their values as the CLI hands them over (strings)."""
    mocks = mocks if mocks is not None else StackMocks()
    # A fresh root stack for every run (as pulumi.runtime.reset_options does): set_mocks keeps the
    # previous run's, with that run's exports and stack name.
    runtime_settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=mocks.preview)
    pulumi.runtime.set_all_config({f"{PROJECT}:{key}": value for key, value in config.items()})
    monitor = runtime_settings.SETTINGS.monitor
    requests: list[Any] = []
    register = monitor.RegisterResource

    def recording_register(request: Any) -> Any:
        response = register(request)
        requests.append((request, response.urn))
        return response

    monitor.RegisterResource = recording_register
    exports: dict[str, Any] = {}

    @pulumi.runtime.test
    def run() -> pulumi.Output[Any]:
        program()
        stack_outputs = runtime_settings.get_root_resource().outputs
        return pulumi.Output.all(**stack_outputs).apply(exports.update)

    error = None
    try:
        run()
    except Exception as raised:
        error = raised
    resources = [
        Declared(
            type=request.type,
            name=request.name,
            urn=urn,
            inputs=mocks.inputs.get((request.type, request.name), {}),
            parent=request.parent,
            dependencies=list(request.dependencies),
            ignore_changes=list(request.ignoreChanges),
            properties=request.object,
            property_dependencies={key: list(value.urns) for key, value in request.propertyDependencies.items()},
            custom_timeouts={
                operation: getattr(request.customTimeouts, operation)
                for operation in ("create", "update", "delete")
                if getattr(request.customTimeouts, operation)
            },
            aliases=[alias.urn or alias.spec.name for alias in request.aliases if alias.urn or alias.spec.name],
            outputs=mocks.outputs.get((request.type, request.name), {}),
        )
        for request, urn in requests
        if request.type != "pulumi:pulumi:Stack"
    ]
    return Deployment(resources=resources, exports=exports, error=error)


def declare_stack(
    stack: str, mocks: StackMocks | None = None, preview: bool = False, **overrides: object
) -> Deployment:
    """Run __main__.py with Pulumi.<stack>.yaml's settings, changed by `overrides` (None drops a key),
    in the region and zones of `mocks` (by default: us-east-1); `preview`: as a first `pulumi preview`
    of an empty stack.

    The program gets what the Pulumi CLI would hand it: every declared key, defaults filled in, all
    strings; a stack the CLI would refuse raises SettingsError here, as `pulumi up` stops there.
    """
    config = stack_config.cli_config(stack, {**stack_values(stack), **overrides})
    return declare(
        lambda: runpy.run_path(str(PROJECT_DIR / "__main__.py")),
        config,
        stack=stack,
        mocks=mocks if mocks is not None else StackMocks(preview=preview),
    )
