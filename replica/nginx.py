"""The nginx configuration that makes the stock nginx image a replica (see `replica` for the contract).

One function writes it for both places it runs: the Fargate container (listening on every address,
scratch files in /dev/shm because the root filesystem is read-only) and the local rehearsal
(listening on one loopback address, scratch files in a folder of its own).
"""

from __future__ import annotations

import re
import shlex

# The one writable path in the container. The root filesystem is read-only (ECS.5), and a task
# volume will not do: Fargate bind mounts are owned by root with mode 0755 unless the image
# declares a VOLUME there, so the non-root nginx user (ECS.20) could not write to one. /dev/shm is
# the container's own small tmpfs, world-writable with the sticky bit, and nginx keeps only a pid
# file and empty temp folders there (responses are tiny and never buffered to disk).
CONTAINER_SCRATCH_DIR = "/dev/shm"
CONFIG_ENV_VAR = "REPLICA_NGINX_CONF"
# Seconds the replica fails its health check, still serving, between its stop signal and its graceful
# stop (StopTiming.delay_seconds; 0 or unset: it stops at once, as it did before the delay came).
STOP_DELAY_ENV_VAR = "REPLICA_STOP_DELAY_SECONDS"

_RESPONSE = '{"replica":"$server_addr","hostname":"$hostname","ip":"$server_addr","port":"$server_port"}'
# What `answer_as` may be: an address's characters, nothing nginx or JSON would read otherwise.
_ANSWER_AS = re.compile(r"[0-9A-Fa-f.:]{2,45}")
_HEALTHY = '{"status":"ok"}'
_FAILING = '{"status":"failing"}'
_STOPPING = '{"status":"stopping"}'


def stopping_flag(scratch_dir: str) -> str:
    """The file whose presence makes the replica's health path fail: its shell writes it on SIGTERM."""
    return f"{scratch_dir}/stopping"


# A health path is written into the replica's `location = <path>` line: a space, quote, backslash,
# ';' or brace would end or break it, nginx would refuse the config and the container would exit.
HEALTH_PATH_RULE = "must start with '/', hold no spaces, quotes, backslashes or ;{}"


def health_path_fits(path: str) -> bool:
    """Whether `path` can be the replica's health path (HEALTH_PATH_RULE)."""
    return path.startswith("/") and not any(c.isspace() or c in ";{}'\"\\" for c in path)


def nginx_document(
    *, purpose: str, scratch_dir: str, worker_processes: int, http_body: str, worker_user: str | None = None
) -> str:
    """A whole nginx.conf that runs unprivileged in the foreground, around the given `http` body.

    The frame every nginx of this project shares, replica or rehearsal balancer: no daemon, errors to
    stderr, and the pid file and every temp folder (which nginx creates at start) in `scratch_dir`.
    `worker_user` matters only to an nginx started by root, whose workers run as nobody unless told:
    a rehearsal run as root names root, so they can see `stopping_flag` in its private temp folder.
    """
    user_line = f"user {worker_user};\n" if worker_user is not None else ""
    temp_paths = "\n".join(
        f"    {kind}_temp_path {scratch_dir}/{kind}_temp;"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""\
# Generated for alb-replicas: {purpose}.
{user_line}daemon off;
worker_processes {worker_processes};
pid {scratch_dir}/nginx.pid;
error_log stderr warn;

events {{
    worker_connections 1024;
}}

http {{
    access_log off;
    server_tokens off;
{temp_paths}
{http_body}}}
"""


def nginx_config(
    *,
    listen: str | tuple[str, ...],
    health_path: str,
    scratch_dir: str,
    worker_processes: int = 1,
    healthy: bool = True,
    failing_answers: bool = False,
    worker_user: str | None = None,
    answer_as: str | None = None,
) -> str:
    """A complete nginx.conf for one replica.

    `listen` is nginx's listen argument ("8080" or "127.0.1.1:18080"), or several, one `listen` line each
    ("8080", "[::]:8080": nginx binds [::] IPv6-only, so the two coexist); `scratch_dir` holds the pid
    file and the temp folders, which nginx creates at start and a read-only root cannot hold.
    `healthy=False` (the rehearsal's --fail-health-checks) answers the health path with 503 while
    every other path keeps serving the contract; so does a replica that is stopping (`stopping_flag`).
    `failing_answers=True` (the rehearsal's failing new revision) answers every other path with 500
    while the health path stays as `healthy` says. `answer_as` (the rehearsal's --failing-revision split)
    is the replica id it answers with instead of its own address: a replica answering as another.
    """
    if not health_path_fits(health_path):
        raise ValueError(f"health path {health_path!r} {HEALTH_PATH_RULE}")
    health_answer = f"200 '{_HEALTHY}\\n'" if healthy else f"503 '{_FAILING}\\n'"
    if answer_as is not None and not _ANSWER_AS.fullmatch(answer_as):
        raise ValueError(f"answer_as {answer_as!r} is no replica id (an IP address)")
    replica_id = answer_as if answer_as is not None else "$server_addr"
    response = _RESPONSE.replace('"replica":"$server_addr"', f'"replica":"{replica_id}"')
    listen_lines = "\n        ".join(
        f"listen {address};" for address in ((listen,) if isinstance(listen, str) else listen)
    )
    http_body = f"""\
    # Longer than the ALB's 60 s idle timeout, so the balancer, not the replica, closes idle
    # connections (a replica closing first can turn a request in flight into a 502).
    keepalive_timeout 75s;
    keepalive_requests 1000000;

    server {{
        {listen_lines}
        # Every answer is JSON: an empty types map drops nginx's built-in one, which would still
        # send /a.html as text/html and /b.gif as image/gif despite default_type.
        types {{ }}
        default_type application/json;

        location = {health_path} {{
            # A stopping replica fails its checks while it serves, so every balancer node stops
            # sending to it before it stops (nginx looks for the file on each check).
            if (-f {stopping_flag(scratch_dir)}) {{
                return 503 '{_STOPPING}\\n';
            }}
            return {health_answer};
        }}

        location / {{
            add_header Cache-Control no-store always;
            add_header X-Replica {replica_id} always;
            return {500 if failing_answers else 200} '{response}\\n';
        }}
    }}
"""
    return nginx_document(
        purpose="one replica",
        scratch_dir=scratch_dir,
        worker_processes=worker_processes,
        http_body=http_body,
        worker_user=worker_user,
    )


def graceful_command(nginx_argv: list[str], *, scratch_dir: str, prepare: str = "") -> list[str]:
    """nginx under a shell that stops it without losing a request, whatever the order of the stop.

    ECS sends the container a stop signal (SIGTERM by many reports, else the image's STOPSIGNAL
    SIGQUIT), then SIGKILL after the stop timeout; a Fargate Spot interruption sends it while the task
    is still registered, so balancer nodes keep sending requests. On SIGTERM or SIGQUIT the shell (PID 1
    in the container) writes `stopping_flag`, so the health path fails while every other path serves,
    waits $REPLICA_STOP_DELAY_SECONDS (until every node has stopped sending; a second stop signal ends
    the wait), then sends nginx SIGQUIT, its graceful stop, which finishes the requests in flight
    (nginx's SIGTERM would cut them). SIGINT is nginx's fast stop, at once (Ctrl-C, the rehearsal's
    own cleanup). The shell waits for nginx to finish and exits with its code. `prepare` runs first;
    nginx only if it succeeds.
    """
    flag = shlex.quote(stopping_flag(scratch_dir))
    script = (
        f"rm -f {flag}; {prepare + ' || exit; ' if prepare else ''}{shlex.join(nginx_argv)} & pid=$!; "
        # PID 1 ignores every signal it has no handler for: each stop signal gets one. SIGTERM, not
        # SIGINT, to nginx: a background command of a shell starts with SIGINT ignored until nginx
        # has set its own handlers (and it retries a busy port for 2.5 s before that).
        "trap 'kill -TERM \"$pid\" 2>/dev/null' INT; trap 'stop=1' TERM QUIT; "
        # `wait` returns early (above 128) when a trapped signal arrives: wait again while nginx runs.
        'while wait "$pid"; code=$?; [ "$code" -gt 128 ] && kill -0 "$pid" 2>/dev/null; do '
        # The delay in the background: a `wait` for it returns at the next signal.
        f'if [ -n "$stop" ] && [ -z "$delayed" ]; then delayed=1; : > {flag}; '
        f'sleep "${{{STOP_DELAY_ENV_VAR}:-0}}" & sleeper=$!; wait "$sleeper"; kill "$sleeper" 2>/dev/null; '
        'kill -QUIT "$pid" 2>/dev/null; fi; done; '
        'exit "$code"'
    )
    return ["/bin/sh", "-c", script]


def container_command() -> list[str]:
    """The container's command: write the config from the environment into scratch, run nginx.

    Not nginx itself as the command: the image's entrypoint then skips its templating scripts,
    which would write under /etc and fail on a read-only root filesystem.
    """
    config_file = f"{CONTAINER_SCRATCH_DIR}/nginx.conf"
    return graceful_command(
        ["nginx", "-e", "stderr", "-c", config_file],
        scratch_dir=CONTAINER_SCRATCH_DIR,
        prepare=f'printf "%s" "${CONFIG_ENV_VAR}" > {config_file}',
    )


def container_config(*, port: int, health_path: str, ipv6: bool) -> str:
    """The config a Fargate replica runs with, listening on every address of its task: with `ipv6`, its IPv6
    ones too (`listen 8080` alone binds IPv4 only, and an IPv6-only task's load balancer reaches it over IPv6)."""
    listen = (str(port), f"[::]:{port}") if ipv6 else str(port)
    return nginx_config(listen=listen, health_path=health_path, scratch_dir=CONTAINER_SCRATCH_DIR)
