"""settings.py: every key parsed, defaulted and checked once, every bad value named with what is allowed."""

import json

import pytest
import yaml
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

import settings
import stack_config
from components.aws_limits import NAME_MAX, name_problem
from components.errors import SettingsError
from components.options import (
    FARGATE_MAX_STOP_TIMEOUT_SECONDS,
    GRACEFUL_STOP_SECONDS,
    NODE_LAG_SECONDS,
    Capacity,
)
from policy.rules.elb import ELB_1_HTTP_REDIRECTS_TO_HTTPS
from tests.docs_text import doc
from tests.stack.harness import OWN_DOMAIN, stack_values

ELB_1 = ELB_1_HTTP_REDIRECTS_TO_HTTPS.id


def parse(**raw: object) -> settings.StackSettings:
    return settings.parse_settings(raw, project="alb-replicas", stack="dev")


def test_defaults_come_from_pulumi_yaml():
    declared = yaml.safe_load((stack_config.PROJECT_DIR / "Pulumi.yaml").read_text())["config"]
    parsed = parse()
    assert parsed.replicas == declared["replicas"]["default"] == 2
    assert parsed.algorithm == declared["algorithm"]["default"] == "round_robin"
    assert parsed.container_port == declared["containerPort"]["default"]
    assert parsed.max_replicas == parsed.replicas, "unset maxReplicas means no autoscaling"
    assert parsed.name_prefix == "alb-replicas-dev"
    assert not parsed.autoscaling and not parsed.https and parsed.serves_nginx_contract


def test_every_key_has_a_type_and_a_description():
    for key, spec in stack_config.config_schema().items():
        assert spec["type"] in ("string", "integer", "boolean"), key
        assert len(spec["description"]) > 20, key


def test_stack_files_parse():
    dev = settings.from_stack_file("dev")
    prod = settings.from_stack_file("prod")
    assert (dev.replicas, dev.replica_addressing, dev.task_public_ipv4) == (3, "ipv6-only", False)
    assert (prod.nat_gateways, prod.az_count, prod.replica_addressing) == ("none", 3, "ipv6-only")
    assert prod.autoscaling and prod.access_logs and prod.deletion_protection
    assert not prod.https, "the repository's prod names no domain: each fork sets its own"


def test_capacity_reads_as_on_demand_spot_or_a_mix():
    assert parse().capacity == Capacity(spot=False, on_demand_base=0), "on demand unless asked"
    assert parse(capacity="spot").capacity == Capacity(spot=True, on_demand_base=0)
    assert parse(replicas=3, capacity="mixed:2").capacity == Capacity(spot=True, on_demand_base=2)
    assert (settings.from_stack_file("dev").capacity.spot, settings.from_stack_file("prod").capacity.spot) == (
        True,
        False,
    )
    assert parse().cpu_architecture == "ARM64"


def test_strings_from_the_cli_are_converted():
    parsed = parse(replicas="4", containerInsights="false", maxReplicas="8", namePrefix="", domain="", zone="")
    assert (parsed.replicas, parsed.container_insights, parsed.max_replicas) == (4, False, 8)
    assert (parsed.name_prefix, parsed.domain, parsed.zone) == ("alb-replicas-dev", None, None), "empty means unset"


def test_max_replicas_zero_means_the_same_as_replicas():
    parsed = parse(replicas=4, maxReplicas=0)
    assert (parsed.max_replicas, parsed.autoscaling) == (4, False)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"replicas": 0}, "replicas: 0 is out of range; allowed: 1 to 100"),
        ({"replicas": 101}, "replicas: 101 is out of range; allowed: 1 to 100"),
        ({"replicas": "three"}, "replicas: 'three' is not a whole number"),
        (
            {"algorithm": "fastest"},
            "algorithm: 'fastest' is not allowed; allowed: round_robin, least_outstanding_requests, weighted_random",
        ),
        ({"azCount": 1}, "azCount: 1 is out of range; allowed: 2 to 6"),
        ({"natGateways": "two"}, "natGateways: 'two' is not allowed; allowed: none, single, onePerAz"),
        ({"cpu": 300}, "cpu: 300 is not a Fargate CPU size; allowed: 256, 512, 1024"),
        (
            {"cpu": 256, "memory": 4096},
            "memory: 4096 MiB is not a Fargate pair with cpu 256; allowed with cpu 256: 512 to 2048 MiB",
        ),
        ({"containerPort": 80}, "containerPort: 80 is out of range; allowed: 1024 to 65535"),
        ({"containerPort": 70000}, "containerPort: 70000 is out of range; allowed: 1024 to 65535"),
        ({"healthCheckPath": "health"}, "healthCheckPath: 'health' must start with '/'"),
        # Written into the replica's nginx `location` line, which a quote, brace or ';' would break.
        ({"healthCheckPath": "/a;b"}, "healthCheckPath: '/a;b' must start with '/', hold no spaces, quotes"),
        ({"healthCheckPath": "/{x}"}, "healthCheckPath: '/{x}' must start with '/', hold no spaces, quotes"),
        ({"healthCheckPath": "/" + "a" * 1024}, "and have at most 1024 characters"),
        (
            {"healthCheckIntervalSeconds": 5, "healthCheckTimeoutSeconds": 5},
            "healthCheckTimeoutSeconds: 5 must be below healthCheckIntervalSeconds (5)",
        ),
        ({"healthyThreshold": 1}, "healthyThreshold: 1 is out of range; allowed: 2 to 10"),
        (
            {"healthCheckIntervalSeconds": 30, "unhealthyThreshold": 3},
            "unhealthyThreshold x healthCheckIntervalSeconds: 3 x 30 s makes a stop timeout of 123 s (93 s failing "
            "health checks while serving, then 30 s to stop gracefully), above Fargate's 120 s; allowed: a product "
            "of at most 87 s",
        ),
        ({"deregistrationDelaySeconds": -1}, "deregistrationDelaySeconds: -1 is out of range; allowed: 0 to 3600"),
        ({"logRetentionDays": 10}, "logRetentionDays: 10 is not allowed; allowed: 1, 3, 5, 7, 14"),
        ({"image": "nginx"}, "image: 'nginx' pins nothing"),
        ({"image": "public.ecr.aws/docker/library/nginx:latest"}, "pins nothing"),
        ({"vpcCidr": "10.0.0.1/16"}, "vpcCidr: '10.0.0.1/16' is not an IPv4 network"),
        ({"vpcCidr": "10.0.0.0/8"}, "vpcCidr: '10.0.0.0/8' must be an IPv4 network with a prefix from /16 to /24"),
        ({"containerUser": "0:0"}, "containerUser: '0:0' must be a numeric non-root uid"),
        ({"namePrefix": "x" * (NAME_MAX + 1)}, f"namePrefix: '{'x' * (NAME_MAX + 1)}' must be 1 to {NAME_MAX} letters"),
        ({"namePrefix": "internal-app"}, "makes the load balancer name 'internal-app-alb-"),
        # The security groups are named "<prefix>-alb-..." and "<prefix>-replicas-...": EC2 refuses "sg-...".
        ({"namePrefix": "sg-web"}, "namePrefix: 'sg-web' makes the security group name 'sg-web-alb-"),
        ({"namePrefix": "sg"}, "which AWS refuses: starts with 'sg-' (botocore ec2 CreateSecurityGroupRequest"),
        # The buckets are "<prefix>-access-logs-..." and "<prefix>-athena-results-...": S3 refuses "xn--...".
        ({"namePrefix": "xn--web"}, "makes the S3 bucket name 'xn--web-access-logs-"),
        ({"namePrefix": "sthree-web"}, "which AWS refuses: starts with 'sthree-' (S3 user guide"),
        ({"containerInsights": "yes"}, "containerInsights: 'yes' is not true or false"),
        ({"capacity": "SPOT"}, "capacity: 'SPOT' is not allowed; allowed: on-demand, spot, or mixed:N"),
        ({"capacity": "mixed:0"}, "capacity: 'mixed:0' is not allowed"),
        ({"replicas": 2, "capacity": "mixed:3"}, "mixed:N with N from 1 to replicas (2)"),
        ({"cpuArchitecture": "amd64"}, "cpuArchitecture: 'amd64' is not allowed; allowed: ARM64, X86_64"),
        ({"replicas": 4, "maxReplicas": 3}, "maxReplicas: 3 is below replicas (4); allowed: 0 (same as replicas) or 4"),
        ({"maxReplicas": 101}, "maxReplicas: 101 is out of range; allowed: 0 (same as replicas) or 2 to 100"),
        ({"maxReplicas": " 8 "}, "maxReplicas: ' 8 ' is not a whole number; pulumi up stops with"),
        ({"replicas": 3.5}, "replicas: 3.5 is not a whole number"),
        ({"containerInsights": "True"}, "containerInsights: 'True' is not true or false"),
        ({"image": ["nginx"]}, "image: ['nginx'] is not a string"),
        ({"domain": "app.mycompany.com"}, "zone: unset, but domain and zone go together"),
        (
            {"domain": "app.mycompany.com", "zone": "mycompany.org"},
            "domain: 'app.mycompany.com' is outside zone 'mycompany.org'",
        ),
        ({"domain": "app..mycompany.com", "zone": "mycompany.com"}, "domain: 'app..mycompany.com' is not a DNS name"),
        ({"domain": "App_1.mycompany.com", "zone": "mycompany.com"}, "domain: 'App_1.mycompany.com' is not a DNS name"),
        ({"cpuTargetPercent": 95}, "cpuTargetPercent: 95 is out of range; allowed: 10 to 90"),
        ({"replicaz": 3}, "replicaz: unknown setting; known settings: accessLogRetentionDays"),
    ],
)
def test_bad_value_is_named_with_what_is_allowed(raw, expected):
    with pytest.raises(SettingsError) as caught:
        parse(**raw)
    assert expected in str(caught.value)


def test_a_vpc_too_small_for_the_replicas_of_a_deploy_is_refused():
    # /24 over 6 zones: /28 subnets, 16 addresses less AWS's 5 and the ALB's 8 free ones = 3 tasks a zone
    # in dev's public subnets; a deploy runs up to 200 % of the tasks, so 9 replicas (18 tasks) fit, 10 not.
    ipv4 = {"replicaAddressing": "ipv4"}
    assert parse(vpcCidr="10.0.0.0/24", azCount=6, replicas=9, **ipv4).vpc_cidr == "10.0.0.0/24"
    with pytest.raises(SettingsError) as caught:
        parse(vpcCidr="10.0.0.0/24", azCount=6, replicas=10, **ipv4)
    assert (
        "vpcCidr: '10.0.0.0/24' leaves room for 3 tasks per zone in the replicas' /28 subnets (16 addresses, "
        "less AWS's 5 and the load balancer's 8); a deploy at 200 % of 10 replicas needs 4 per zone"
    ) in str(caught.value)
    # Private subnets (with NAT) hold no load balancer node; autoscaling's ceiling is what a deploy doubles.
    assert parse(vpcCidr="10.0.0.0/24", azCount=6, replicas=16, natGateways="single", **ipv4).replicas == 16
    with pytest.raises(SettingsError, match=r"leaves room for 11 tasks per zone .* of 34 replicas needs 12 per zone"):
        parse(vpcCidr="10.0.0.0/24", azCount=6, replicas=2, maxReplicas=34, natGateways="single", **ipv4)
    # IPv6-only replicas take no IPv4 address: their /64s hold any deploy.
    assert parse(vpcCidr="10.0.0.0/24", azCount=6, replicas=100).replicas == 100


def test_every_problem_is_reported_at_once():
    with pytest.raises(SettingsError) as caught:
        parse(replicas=0, algorithm="fastest", azCount=1)
    message = str(caught.value)
    assert message.startswith("invalid stack settings:")
    assert all(key in message for key in ("replicas: 0", "algorithm: 'fastest'", "azCount: 1"))


def test_domain_may_be_the_zone_apex_or_inside_it():
    assert parse(domain="mycompany.com", zone="mycompany.com").https
    assert parse(domain="a.b.mycompany.com", zone="mycompany.com").domain == "a.b.mycompany.com"


def test_image_pinned_by_digest_is_accepted():
    digest = "sha256:" + "a" * 64
    assert parse(image=f"ecr-public.aws.com/docker/library/nginx@{digest}").serves_nginx_contract
    assert not parse(image="123456789012.dkr-ecr.us-east-1.on.aws/api:1.2.3").serves_nginx_contract


@pytest.mark.parametrize(
    ("project", "stack"),
    [
        ("alb-replicas", "my-very-long-feature-branch-name"),
        ("a_project.with.dots", "feature/ABC_123.long-long-long"),
        ("p" * 60, "s"),
        ("alb-replicas", "---"),
    ],
)
def test_long_or_odd_names_still_make_valid_aws_names(project, stack):
    prefix = settings.default_name_prefix(project, stack)
    assert name_problem(prefix) is None, prefix
    assert len(prefix + "-alb" + "-1234567") <= 32


def test_cut_names_of_different_stacks_differ():
    first = settings.default_name_prefix("alb-replicas", "feature-branch-number-one")
    second = settings.default_name_prefix("alb-replicas", "feature-branch-number-two")
    assert first != second


def test_missing_stack_file_names_the_stacks_there():
    with pytest.raises(SettingsError, match=r"stack 'staging': no file Pulumi.staging.yaml; stacks here: dev, prod"):
        settings.from_stack_file("staging")


def test_unknown_key_in_a_stack_file_is_reported(tmp_path):
    (tmp_path / "Pulumi.typo.yaml").write_text("config:\n  aws:region: us-east-1\n  alb-replicas:replica: 3\n")
    with pytest.raises(SettingsError, match="replica: unknown setting"):
        settings.from_stack_file("typo", project_dir=tmp_path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "Pulumi.bad.yaml holds nothing; allowed: a mapping with a non-empty config: block"),
        ("config:\n  - alb-replicas:replicas: 3\n", "Pulumi.bad.yaml holds config: a list; allowed: a mapping"),
        ("config: 3\n", "Pulumi.bad.yaml holds config: the int 3; allowed"),
        ("just words\n", "Pulumi.bad.yaml holds the str 'just words'; allowed"),
        ("- a\n- b\n", "Pulumi.bad.yaml holds a list; allowed"),
        ("encryptionsalt: x\n", "Pulumi.bad.yaml holds config: nothing; allowed"),
        ("config:\n  replicas: 3\n", "config key 'replicas' has no namespace; write alb-replicas:replicas"),
        ("config:\n  alb-replicas:replicas: [3\n", "Pulumi.bad.yaml is not valid YAML: expected ',' or ']'"),
    ],
    ids=["empty", "config-list", "config-scalar", "scalar", "list", "no-config", "no-namespace", "not-yaml"],
)
def test_a_malformed_or_empty_stack_file_is_one_line_naming_what_is_allowed(tmp_path, text, expected):
    (tmp_path / "Pulumi.bad.yaml").write_text(text)
    with pytest.raises(SettingsError) as caught:
        settings.from_stack_file("bad", project_dir=tmp_path)
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("argument", "key"),
    [
        ("az_count", "azCount"),
        ("replicas", "replicas"),
        ("name", "namePrefix"),
        ("capacity.on_demand_base", "capacity"),
    ],
)
def test_a_components_error_is_reworded_with_the_stack_key_that_sets_its_argument(argument, key):
    error = settings.in_stack_keys(SettingsError("1 is too few", argument=argument))
    assert (str(error), error.argument, error.problem) == (f"{key}: 1 is too few", key, "1 is too few")


def test_an_error_naming_no_argument_is_kept_as_it_is():
    error = SettingsError("memory: 4096 MiB is not a Fargate pair with cpu 256")
    assert settings.in_stack_keys(error) is error


def test_every_key_of_pulumi_yaml_is_one_settings_field_named_as_the_key():
    keys = [settings.stack_key(field) for field in settings.settings_fields()]
    assert sorted(keys) == sorted(stack_config.config_schema())
    assert settings.stack_key("health_check_interval_seconds") == "healthCheckIntervalSeconds"


def test_each_range_is_the_one_pulumi_yaml_and_the_docs_state():
    readme = doc("configuration")
    for key, (low, high) in settings.RANGES.items():
        assert f"{low} to {high}" in stack_config.config_schema()[key]["description"], key
        row = next(line for line in readme.splitlines() if line.startswith(f"| `{key}` |"))
        assert f"{low} to {high}" in row, key


@hypothesis_settings(deadline=None)  # a loaded machine, not the check, makes a case slow
@given(interval=st.integers(5, 300), threshold=st.integers(2, 10))
def test_a_stop_waits_out_every_nodes_checks_within_fargates_stop_timeout_or_is_refused(interval, threshold):
    """The stop delay covers the checks that take a replica out on every node plus their lag; the stop
    timeout adds a graceful stop, and a health check that needs more than Fargate's 120 s is refused."""
    raw = {"healthCheckIntervalSeconds": interval, "unhealthyThreshold": threshold, "healthCheckTimeoutSeconds": 2}
    delay = threshold * interval + NODE_LAG_SECONDS
    if delay + GRACEFUL_STOP_SECONDS > FARGATE_MAX_STOP_TIMEOUT_SECONDS:
        with pytest.raises(SettingsError, match=f"{threshold} x {interval} s makes a stop timeout"):
            parse(**raw)
        return
    stop = parse(**raw).stop_timing
    assert (stop.delay_seconds, stop.timeout_seconds) == (delay, delay + GRACEFUL_STOP_SECONDS)
    assert stop.problem() is None


# nginx advisories of the 1.30 stable line and the release that fixes each, as read on 2026-12-04: nginx.org's
# security advisories (to 1.30.4), osv.dev's MinimOS entry for 1.30.5, and Mageia's MGASA-2026-0605 for the
# ones disclosed on 2026-11-18 ("NGINX2Root", fixed in 1.30.7 and mainline 1.31.9).
NGINX_STABLE_FIXES = {
    (1, 30, 1): [
        "CVE-2026-42945",
        "CVE-2026-42926",
        "CVE-2026-42946",
        "CVE-2026-42934",
        "CVE-2026-40460",
        "CVE-2026-40701",
    ],
    (1, 30, 2): ["CVE-2026-9256"],
    (1, 30, 3): ["CVE-2026-42055", "CVE-2026-48142"],
    (1, 30, 4): ["CVE-2026-42533", "CVE-2026-60005", "CVE-2026-56434"],
    (1, 30, 5): ["CVE-2026-90439"],
    (1, 30, 7): ["CVE-2026-113425", "CVE-2026-121810", "CVE-2026-123007", "CVE-2026-123633", "CVE-2026-123634"],
}


def test_the_default_image_is_an_nginx_stable_release_with_every_known_fix():
    image = stack_config.config_schema()["image"]["default"]
    repository, tag = image.rsplit(":", 1)
    assert repository == "ecr-public.aws.com/docker/library/nginx" and tag.endswith("-alpine")
    version = tuple(int(part) for part in tag.removesuffix("-alpine").split("."))
    assert version[1] % 2 == 0, "an even minor version is nginx's stable line"
    unfixed = [cve for fixed_in, cves in NGINX_STABLE_FIXES.items() if version < fixed_in for cve in cves]
    assert unfixed == [], f"{image} is affected by {unfixed}"


# --- a fresh fork: prod without a domain of its own -------------------------------------------------------


@pytest.mark.parametrize(
    ("domain", "zone"),
    [
        ("app.example.com", "example.com"),
        ("example.org", "example.org"),
        ("www.shop.example.net", "shop.example.net"),
        ("app.mysite.example", "mysite.example"),
        ("app.mysite.test", "mysite.test"),
        ("api.invalid", "api.invalid"),
        ("app.localhost", "localhost"),
    ],
)
def test_a_reserved_example_name_is_refused_in_one_line_that_says_which_keys_to_set(domain, zone):
    with pytest.raises(SettingsError) as caught:
        parse(domain=domain, zone=zone)
    (problem,) = str(caught.value).splitlines()[1:]
    assert problem.strip().startswith(f"domain: {domain!r} in zone {zone!r} is a name reserved for examples")
    assert "pulumi config set domain" in problem and "pulumi config set zone" in problem


@pytest.mark.parametrize("zone", ["example.co.uk", "myexample.com", "example-shop.com", "testing.io", "test.com"])
def test_names_that_only_look_like_examples_are_accepted(zone):
    assert parse(domain=f"app.{zone}", zone=zone).https


@given(label=st.from_regex(r"[a-z0-9]{1,20}", fullmatch=True), reserved=st.sampled_from(settings.RESERVED_ZONES))
def test_every_name_under_a_reserved_one_is_refused(label, reserved):
    with pytest.raises(SettingsError, match="reserved for examples"):
        parse(domain=f"{label}.{reserved}", zone=reserved)


def test_prod_requires_a_domain_of_its_own_and_says_in_one_line_which_keys_to_set():
    prod = settings.from_stack_file("prod")
    problem = settings.deploy_problem(prod)
    assert problem is not None and "\n" not in problem
    assert problem.startswith("domain: prod serves HTTPS on a domain of yours")
    assert "pulumi config set --stack prod domain" in problem and "pulumi config set --stack prod zone" in problem
    configured = settings.parse_settings({**stack_values("prod"), **OWN_DOMAIN}, project="p", stack="prod")
    assert settings.deploy_problem(configured) is None


def test_dev_needs_no_domain_since_its_policy_config_turns_https_off():
    assert settings.deploy_problem(settings.from_stack_file("dev")) is None


def test_a_stack_without_a_policy_config_runs_every_rule_so_needs_a_domain(tmp_path):
    # A fork's new stack (staging) gets the whole policy pack, HTTPS (ELB.1) included, like prod.
    assert settings.https_required("staging", project_dir=tmp_path)
    (tmp_path / "policy").mkdir(parents=True)
    (tmp_path / "policy" / "staging.json").write_text(json.dumps({ELB_1: {"enforcementLevel": "disabled"}}))
    assert not settings.https_required("staging", project_dir=tmp_path)
    (tmp_path / "policy" / "staging.json").write_text(json.dumps({ELB_1: {"enforcementLevel": "mandatory"}}))
    assert settings.https_required("staging", project_dir=tmp_path)


def fork(tmp_path, prod_overrides: dict[str, str] | None = None):
    """A copy of the repository's stack files and policy configs, prod's changed by `prod_overrides`."""
    root = stack_config.PROJECT_DIR
    (tmp_path / "policy").mkdir(parents=True)
    (tmp_path / "policy" / "dev.json").write_text((root / "policy" / "dev.json").read_text())
    (tmp_path / "Pulumi.dev.yaml").write_text((root / "Pulumi.dev.yaml").read_text())
    prod = yaml.safe_load((root / "Pulumi.prod.yaml").read_text())
    prod["config"].update({f"alb-replicas:{key}": value for key, value in (prod_overrides or {}).items()})
    (tmp_path / "Pulumi.prod.yaml").write_text(yaml.safe_dump(prod))
    return tmp_path


def test_the_check_says_a_fresh_forks_prod_waits_for_its_domain(tmp_path, capsys):
    assert settings.main([], project_dir=fork(tmp_path)) == settings.ExitCode.INCOMPLETE
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "dev: ready to deploy"
    assert lines[1].startswith("prod: not deployed until it is set: domain: prod serves HTTPS on a domain of yours")
    assert len(lines) == 2


def test_the_check_for_github_skips_prod_with_a_notice_and_a_summary_line(tmp_path, monkeypatch, capsys):
    output, summary = tmp_path / "output", tmp_path / "summary"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert settings.main(["--github"], project_dir=fork(tmp_path / "repo")) == settings.ExitCode.READY
    assert output.read_text() == 'ready=["dev"]\n'
    notices = [line for line in capsys.readouterr().out.splitlines() if line.startswith("::")]
    assert len(notices) == 1 and notices[0].startswith("::notice title=prod is not deployed::domain: prod serves")
    assert summary.read_text().startswith("- `prod` skipped until it is set: domain: prod serves HTTPS")


def test_the_check_lets_prod_deploy_once_its_domain_is_set(tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "output"))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary"))
    assert settings.main(["--github"], project_dir=fork(tmp_path / "repo", OWN_DOMAIN)) == settings.ExitCode.READY
    assert (tmp_path / "output").read_text() == 'ready=["dev", "prod"]\n'
    assert (tmp_path / "summary").read_text() == ""


def test_the_check_fails_invalid_settings_with_an_error_annotation(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "output"))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary"))
    repo = fork(tmp_path / "repo", {"domain": "app.example.com", "zone": "example.com"})
    assert settings.main(["--github"], project_dir=repo) == settings.ExitCode.INVALID
    (error,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("::error")]
    assert error.startswith("::error title=prod settings::invalid stack settings: domain: 'app.example.com' in zone")
    assert (tmp_path / "output").read_text() == 'ready=["dev"]\n'
