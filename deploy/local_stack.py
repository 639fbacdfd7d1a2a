"""Start the processes deploy/compose.yaml would start, on a machine without a container engine.

It reads compose.yaml and the same env file, and runs each service's own command with its own
environment, changed only where containers and one machine differ:

- ``db``: an existing PostgreSQL (``--database-url``) instead of the postgres container;
- ``migrate``: ``baseliner db upgrade``, once, before the apps;
- ``app1``, ``app2``, ...: ``baseliner serve`` from this checkout's .venv, each on its own
  loopback port (containers each had their own 8000); the data volume is one local folder; the
  IDE forwarders stay on loopback, where Caddy (same machine) dials them;
- ``caddy``: Debian's ``caddy`` with deploy/Caddyfile, on ``--http-port``/``--https-port``, the
  upstreams those loopback ports.

    .venv/bin/python deploy/local_stack.py --env-file deploy/.env

prints each process's command line, then serves until Ctrl-C. tests/deploy/ runs it the same way.
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parent
ROOT = DEPLOY.parent
VENV_BIN = ROOT / ".venv" / "bin"
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|:\?)([^}]*))?\}")


@dataclass
class Process:
    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path = ROOT
    ready_url: str = ""  # answers 200 once the process is up
    popen: subprocess.Popen | None = field(default=None, repr=False)


def read_env_file(path: Path | None) -> dict[str, str]:
    """``KEY=value`` lines, as compose's --env-file reads them (no quotes, # comments)."""
    values: dict[str, str] = {}
    if path is None:
        return values
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?message}``."""

    def one(match: re.Match) -> str:
        name, kind, extra = match.group(1), match.group(2), match.group(3)
        found = variables.get(name, "")
        if found:
            return found
        if kind == ":?":
            raise SystemExit(f"error: {extra or name + ' is not set'}")
        return extra if kind == ":-" else ""

    return _VARIABLE.sub(one, value)


def _environment(service: dict, variables: dict[str, str]) -> dict[str, str]:
    env = {}
    for key, value in (service.get("environment") or {}).items():
        env[key] = interpolate(str(value), variables)
    return env


def plan(
    variables: dict[str, str],
    *,
    database_url: str,
    data_dir: Path,
    http_port: int,
    https_port: int,
    first_app_port: int = 8001,
    compose_file: Path = DEPLOY / "compose.yaml",
) -> list[Process]:
    """The processes, in start order: migrate, the apps, caddy."""
    compose = yaml.safe_load(compose_file.read_text())
    services: dict[str, dict] = compose["services"]
    env_file = {**variables}
    apps = sorted(name for name in services if re.fullmatch(r"app\d+", name))
    ports = {name: first_app_port + i for i, name in enumerate(apps)}
    https = "" if https_port == 443 else f":{https_port}"
    domain = interpolate("${BASELINER_DOMAIN}", env_file)

    def app_env(name: str) -> dict[str, str]:
        env = {**env_file, **_environment(services[name], env_file)}
        env.update(
            BASELINER_DATABASE_URL=database_url,
            BASELINER_DATA_DIR=str(data_dir),
            BASELINER_IDE_TUNNEL_BIND="127.0.0.1",
            BASELINER_PUBLIC_URL=f"https://{domain}{https}",
            BASELINER_IDE_URL=f"https://run-{{run}}.ide.{domain}{https}/",
        )
        env.pop("BASELINER_IDE_TUNNEL_ADDRESS", None)  # Caddy dials loopback here
        if name in ports:
            env["BASELINER_TASK_API_URL"] = f"http://127.0.0.1:{ports[name]}"
        return env

    def command(name: str) -> list[str]:
        argv = [interpolate(str(a), env_file) for a in services[name]["command"]]
        if argv[0] == "baseliner":
            argv[0] = str(VENV_BIN / "baseliner")
        return argv

    processes = [Process("migrate", command("migrate"), app_env("migrate"))]
    for name in apps:
        argv = command(name)
        argv[argv.index("--host") + 1] = "127.0.0.1"
        argv[argv.index("--port") + 1] = str(ports[name])
        processes.append(
            Process(name, argv, app_env(name), ready_url=f"http://127.0.0.1:{ports[name]}/healthz")
        )
    caddy = services["caddy"]
    caddy_env = {**env_file, **_environment(caddy, env_file)}
    caddy_env.update(
        APP_UPSTREAMS=" ".join(f"127.0.0.1:{ports[n]}" for n in apps),
        HTTP_PORT=str(http_port),
        HTTPS_PORT=str(https_port),
        CADDY_ADMIN="off",
        XDG_DATA_HOME=str(data_dir.parent / "caddy-data"),
        XDG_CONFIG_HOME=str(data_dir.parent / "caddy-config"),
    )
    argv = [shutil.which("caddy") or "caddy", "run", "--config", str(DEPLOY / "Caddyfile")]
    argv += ["--adapter", "caddyfile"]
    processes.append(Process("caddy", argv, caddy_env, cwd=DEPLOY))
    return processes


def start(process: Process, log_dir: Path) -> subprocess.Popen:
    """Start one process with only its own environment (plus PATH, HOME, LANG)."""
    keep = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    log = (log_dir / f"{process.name}.log").open("ab")
    process.popen = subprocess.Popen(
        process.argv,
        env={**keep, **process.env},
        cwd=process.cwd,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return process.popen


def wait_ready(process: Process, timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.popen is not None and process.popen.poll() is not None:
            raise RuntimeError(f"{process.name} exited with {process.popen.returncode}")
        try:
            if httpx.get(process.ready_url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{process.name} did not answer {process.ready_url} in {timeout:.0f} s")


def up(processes: list[Process], log_dir: Path) -> None:
    """Migrate, then the apps (each answering), then caddy."""
    log_dir.mkdir(parents=True, exist_ok=True)
    for process in processes:
        start(process, log_dir)
        if process.name == "migrate":
            if process.popen.wait(120) != 0:
                log = (log_dir / "migrate.log").read_text()
                raise RuntimeError(f"migrate failed:\n{log}")
        elif process.ready_url:
            wait_ready(process)


def down(processes: list[Process]) -> None:
    for process in reversed(processes):
        if process.popen is not None and process.popen.poll() is None:
            os.killpg(process.popen.pid, signal.SIGTERM)
    for process in processes:
        if process.popen is not None:
            try:
                process.popen.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.popen.pid, signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env-file", type=Path, default=DEPLOY / ".env")
    parser.add_argument(
        "--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/baseliner"
    )
    parser.add_argument("--state-dir", type=Path, default=ROOT / "var" / "local-stack")
    parser.add_argument("--http-port", type=int, default=8080)
    parser.add_argument("--https-port", type=int, default=8443)
    args = parser.parse_args()
    variables = read_env_file(args.env_file if args.env_file.exists() else None)
    processes = plan(
        variables,
        database_url=args.database_url,
        data_dir=args.state_dir / "data",
        http_port=args.http_port,
        https_port=args.https_port,
    )
    for process in processes:
        print(f"{process.name:>8}: {' '.join(process.argv)}")
    stop = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)  # so sigwait gets them and down() runs
    try:
        up(processes, args.state_dir / "logs")
        print(
            f"up: https://{variables.get('BASELINER_DOMAIN', '?')}:{args.https_port}/"
            f"  (logs in {args.state_dir / 'logs'}; Ctrl-C stops)"
        )
        signal.sigwait(stop)
    finally:
        down(processes)


if __name__ == "__main__":
    sys.exit(main())
