"""The nginx configuration that makes the stock nginx image a replica (see `replica` for the contract).

One function writes it for both places it runs: the Fargate container (listening on every address,
scratch files in /dev/shm because the root filesystem is read-only) and the local rehearsal
(listening on one loopback address, scratch files in a folder of its own).
"""

from __future__ import annotations

import shlex

# The one writable path in the container. The root filesystem is read-only (ECS.5), and a task
# volume will not do: Fargate bind mounts are owned by root with mode 0755 unless the image
# declares a VOLUME there, so the non-root nginx user (ECS.20) could not write to one. /dev/shm is
# the container's own small tmpfs, world-writable with the sticky bit, and nginx keeps only a pid
# file and empty temp folders there (responses are tiny and never buffered to disk).
CONTAINER_SCRATCH_DIR = "/dev/shm"
CONFIG_ENV_VAR = "REPLICA_NGINX_CONF"

_RESPONSE = '{"replica":"$server_addr","hostname":"$hostname","ip":"$server_addr","port":"$server_port"}'
_HEALTHY = '{"status":"ok"}'
_FAILING = '{"status":"failing"}'


# A health path is written into the replica's `location = <path>` line: a space, quote, backslash,
# ';' or brace would end or break it, nginx would refuse the config and the container would exit.
HEALTH_PATH_RULE = "must start with '/', hold no spaces, quotes, backslashes or ;{}"


def health_path_fits(path: str) -> bool:
    """Whether `path` can be the replica's health path (HEALTH_PATH_RULE)."""
    return path.startswith("/") and not any(c.isspace() or c in ";{}'\"\\" for c in path)


def nginx_document(*, purpose: str, scratch_dir: str, worker_processes: int, http_body: str) -> str:
    """A whole nginx.conf that runs unprivileged in the foreground, around the given `http` body.

    The frame every nginx of this project shares, replica or rehearsal balancer: no daemon, errors to
    stderr, and the pid file and every temp folder (which nginx creates at start) in `scratch_dir`.
    """
    temp_paths = "\n".join(
        f"    {kind}_temp_path {scratch_dir}/{kind}_temp;"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""\
# Generated for alb-replicas: {purpose}.
daemon off;
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
    listen: str,
    health_path: str,
    scratch_dir: str,
    worker_processes: int = 1,
    healthy: bool = True,
    failing_answers: bool = False,
) -> str:
    """A complete nginx.conf for one replica.

    `listen` is nginx's listen argument ("8080" or "127.0.1.1:18080"); `scratch_dir` holds the pid
    file and the temp folders, which nginx creates at start and a read-only root cannot hold.
    `healthy=False` (the rehearsal's --fail-health-checks) answers the health path with 503 while
    every other path keeps serving the contract. `failing_answers=True` (the rehearsal's failing new
    revision) answers every other path with 500 while the health path stays as `healthy` says.
    """
    if not health_path_fits(health_path):
        raise ValueError(f"health path {health_path!r} {HEALTH_PATH_RULE}")
    health_answer = f"200 '{_HEALTHY}\\n'" if healthy else f"503 '{_FAILING}\\n'"
    http_body = f"""\
    # Longer than the ALB's 60 s idle timeout, so the balancer, not the replica, closes idle
    # connections (a replica closing first can turn a request in flight into a 502).
    keepalive_timeout 75s;
    keepalive_requests 1000000;

    server {{
        listen {listen};
        # Every answer is JSON: an empty types map drops nginx's built-in one, which would still
        # send /a.html as text/html and /b.gif as image/gif despite default_type.
        types {{ }}
        default_type application/json;

        location = {health_path} {{
            return {health_answer};
        }}

        location / {{
            add_header Cache-Control no-store always;
            add_header X-Replica $server_addr always;
            return {500 if failing_answers else 200} '{_RESPONSE}\\n';
        }}
    }}
"""
    return nginx_document(
        purpose="one replica", scratch_dir=scratch_dir, worker_processes=worker_processes, http_body=http_body
    )


def graceful_command(nginx_argv: list[str], *, prepare: str = "") -> list[str]:
    """nginx under a shell that turns a stop signal into nginx's graceful stop.

    ECS sends the container a stop signal (SIGTERM by many reports, whatever the image's STOPSIGNAL
    SIGQUIT says), then SIGKILL after the stop timeout. nginx stops fast on SIGTERM, cutting the
    requests in flight; on SIGQUIT it finishes them first. The shell (PID 1 in the container, which
    ignores every signal it has no handler for) passes SIGTERM, SIGINT and SIGQUIT on as SIGQUIT,
    waits for nginx to finish and exits with its code. `prepare` runs first; nginx only if it succeeds.
    """
    script = (
        f"{prepare + ' || exit; ' if prepare else ''}{shlex.join(nginx_argv)} & pid=$!; "
        "trap 'kill -QUIT \"$pid\"' TERM INT QUIT; "
        # `wait` returns early (above 128) when a trapped signal arrives: wait again while nginx runs.
        'while wait "$pid"; code=$?; [ "$code" -gt 128 ] && kill -0 "$pid" 2>/dev/null; do :; done; '
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
        ["nginx", "-e", "stderr", "-c", config_file], prepare=f'printf "%s" "${CONFIG_ENV_VAR}" > {config_file}'
    )


def container_config(*, port: int, health_path: str) -> str:
    """The config a Fargate replica runs with, listening on every address of its task."""
    return nginx_config(listen=str(port), health_path=health_path, scratch_dir=CONTAINER_SCRATCH_DIR)
