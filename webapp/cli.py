"""The `baseliner` command: serve, migrate, manage accounts and tokens, run the demo."""

import gc
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from sqlmodel import Session

from baselines import tokens
from baselines.errors import DomainError
from baselines.staff import StaffCreate, create_staff
from baselines.users import Role, get_by_email
from timetracking.utc import utcnow
from webapp import db
from webapp.forms import field_error, parse
from webapp.settings import Settings

app = typer.Typer(
    help="Baseliner: human expert baselines for AI R&D benchmarks.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
users_app = typer.Typer(help="Accounts.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
hosts_app = typer.Typer(help="GPU hosts.", no_args_is_help=True)
app.add_typer(tokens_app, name="tokens")
app.add_typer(hosts_app, name="hosts")
env_app = typer.Typer(help="Environments (task families).", no_args_is_help=True)
app.add_typer(env_app, name="env")
export_app = typer.Typer(help="Download the score-over-time dataset.", no_args_is_help=True)
import_app = typer.Typer(help="Bring in agent runs and score logs.", no_args_is_help=True)
analytics_app = typer.Typer(help="Curves and best-of-k from the dataset.", no_args_is_help=True)
app.add_typer(export_app, name="export")
app.add_typer(import_app, name="import")
app.add_typer(analytics_app, name="analytics")
backup_app = typer.Typer(help="Backups of the database and the data dir.", no_args_is_help=True)
app.add_typer(backup_app, name="backup")


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


HostOption = Annotated[
    str | None,
    typer.Option(
        help="Address to listen on (0.0.0.0: every address) [default: BASELINER_HOST, else"
        " 127.0.0.1]",
        show_default=False,
    ),
]
PortOption = Annotated[
    int | None,
    typer.Option(
        help="Port to listen on [default: BASELINER_PORT, else 8000]",
        min=1,
        max=65535,
        show_default=False,
    ),
]


def _settings() -> Settings:
    """The settings, or a message naming the variable at fault (not a traceback)."""
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:
        problems = [
            f"BASELINER_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
        ]
        _fail("; ".join(problems))
        raise  # unreachable: _fail exits


def listening(settings: Settings, host: str | None, port: int | None) -> Settings:
    """The settings of a portal listening at ``host``:``port`` (the options, else
    BASELINER_HOST and BASELINER_PORT): where the public URL was not set, it is this address,
    so set-password links and the workspaces' ``task`` tunnel reach the port actually served."""
    host = host or settings.host
    port = port or settings.port
    changes: dict = {"host": host, "port": port}
    if "public_url" not in settings.model_fields_set:
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        if ":" in shown:  # an IPv6 address
            shown = f"[{shown}]"
        changes["public_url"] = f"http://{shown}:{port}"
    return settings.model_copy(update=changes)


@app.command()
def serve(host: HostOption = None, port: PortOption = None) -> None:
    """Bring the schema to head and serve the portal and API."""
    _serve(listening(_settings(), host, port))


def _serve(settings: Settings) -> None:
    import uvicorn

    from webapp import logs
    from webapp.app import create_app

    logs.configure(settings.log_format)  # first: making the app migrates, which may log
    config = uvicorn.Config(
        logs.timed(create_app(settings)),
        host=settings.host,
        port=settings.port,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        # VS Code sends whole files in one WebSocket message; loopback needs no compression.
        ws_max_size=1 << 30,
        ws_per_message_deflate=False,
        log_config=None,  # configured above
    )
    # Everything imported so far lives as long as the process: out of the collector's sight,
    # a full collection no longer walks it and stalls every request for 100-200 ms.
    gc.collect()
    gc.freeze()
    uvicorn.Server(config).run()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration not yet applied."""
    settings = Settings()
    db.upgrade(settings.db_url)
    typer.echo("database is at the newest schema")


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="Sign-in email.")],
    role: Annotated[Role, typer.Option(help="A staff role; experts apply through the portal.")],
    name: Annotated[str, typer.Option(help="Display name (defaults to the email).")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Create a staff account. Without --password-stdin it prints a one-time set-password link."""
    from datetime import timedelta

    from baselines import password_resets

    settings = Settings()
    db.upgrade(settings.db_url)
    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    data, errors = parse(StaffCreate, {"email": email, "name": name or email, "role": role})
    if errors:
        _fail("; ".join(f"{field}: {message}" for field, message in errors.items()))
    engine = db.make_engine(settings.db_url)
    with Session(engine) as session:
        now = utcnow()
        try:
            user = create_staff(session, data, None, now, password=password)
        except DomainError as exc:  # a taken email and a weak password are both said
            _fail("; ".join(f"{field}: {message}" for field, message in field_error(exc).items()))
        link = None
        if password is None:
            token = password_resets.issue(
                session, user, None, timedelta(seconds=settings.reset_link_ttl_s), now
            )
            link = settings.public_url.rstrip("/") + f"/reset/{token}"
        session.commit()
        typer.echo(f"created {user.role} {user.email} (id {user.id})")
        if link:
            typer.echo(f"set-password link (one use): {link}")


@tokens_app.command("create")
def tokens_create(
    email: Annotated[str, typer.Option(help="Whose token.")],
    name: Annotated[str, typer.Option(help="What the token is for.")],
) -> None:
    """Print a new API token for an account (stored hashed; shown only now)."""
    settings = Settings()
    db.upgrade(settings.db_url)
    engine = db.make_engine(settings.db_url)
    with Session(engine) as session:
        user = get_by_email(session, email)
        if user is None:
            _fail(f"no account with email {email}")
        try:
            _, plain = tokens.create(session, user, name, utcnow(), actor_id=None)
        except DomainError as exc:
            _fail(exc.message)
        session.commit()
    typer.echo(plain)


def _session() -> tuple[Settings, Session]:
    settings = Settings()
    db.upgrade(settings.db_url)
    return settings, Session(db.make_engine(settings.db_url))


def _setting_pairs(pairs: list[str]) -> dict[str, str]:
    """``NAME=VALUE`` options as a dict; a pair without ``=`` is refused."""
    found = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            _fail(f"--setting {pair!r}: give NAME=VALUE")
        found[name.strip()] = value
    return found


@hosts_app.command("add")
def hosts_add(
    name: Annotated[str, typer.Option(help="Short name, e.g. gpu-01.")],
    local: Annotated[bool, typer.Option("--local", help="This machine, no SSH.")] = False,
    address: Annotated[str, typer.Option(help="SSH address.")] = "",
    port: Annotated[int, typer.Option(help="SSH port.")] = 22,
    user: Annotated[str, typer.Option(help="SSH user (root or passwordless sudo).")] = "root",
    key: Annotated[str, typer.Option(help="Private key file on this machine.")] = "",
    host_key: Annotated[str, typer.Option(help="The host's public key line, to pin.")] = "",
    fingerprint: Annotated[
        str, typer.Option(help="Confirm the fetched key by its SHA256 fingerprint.")
    ] = "",
    backend: Annotated[
        str,
        typer.Option(
            "--backend", "--runtime", help="process, container or slurm (fleet.backends)."
        ),
    ] = "process",
    image: Annotated[str, typer.Option(help="Workspace image (container backend).")] = "",
    python: Annotated[
        str, typer.Option(help="Python that runs task families there (default: python3).")
    ] = "",
    setting: Annotated[
        list[str] | None,
        typer.Option(help="Another backend setting as NAME=VALUE, e.g. partition=gpu."),
    ] = None,
) -> None:
    """Register a host. Without --host-key, prints the host's fingerprint; run again with
    --fingerprint to confirm and pin it."""
    from fleet import health, hosts
    from fleet.connections import Connections
    from fleet.drivers import ssh
    from fleet.drivers.base import HostError
    from fleet.hosts import HostCreate

    values = {
        "name": name,
        "driver": "local" if local else "ssh",
        "address": address,
        "port": port,
        "username": user,
        "key_path": key,
        "backend": backend,
        "settings": {"image": image, "python": python} | _setting_pairs(setting or []),
    }
    data, errors = parse(HostCreate, values)
    if data is not None:
        errors = data.problems()
    if errors:
        _fail("; ".join(f"{field}: {message}" for field, message in errors.items()))
    if not local and not host_key:
        try:
            fetched = ssh.fetch_host_key(address, port, 10.0)
        except HostError as exc:
            _fail(str(exc))
        if fingerprint != ssh.fingerprint(fetched):
            typer.echo(f"{address}:{port} presents {ssh.fingerprint(fetched)}")
            typer.echo("Check it on the host (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub),")
            typer.echo("then run the same command with --fingerprint to pin it.")
            raise typer.Exit(code=3)
        host_key = fetched
    settings, session = _session()
    with session:
        try:
            host = hosts.add(session, data, host_key, None, utcnow())
            session.commit()
        except DomainError as exc:
            _fail(exc.message)
        connections = Connections(settings.prefix)
        result = health.check(session, host, connections, utcnow())
        connections.close()
        typer.echo(f"added {host.name}: {host.status} ({result.reason}); {len(host.gpus)} GPU(s)")


@hosts_app.command("list")
def hosts_list() -> None:
    """Every host with its status and GPUs."""
    from fleet import hosts
    from fleet.backends import registry

    _, session = _session()
    with session:
        for host in hosts.all_hosts(session):
            where = registry.reach(host.driver).machine(host.address, host.port)
            gpus = ", ".join(g["name"] for g in host.gpus) or "no GPUs"
            typer.echo(
                f"{host.name:<16} {host.status:<9} {where:<24} {host.backend:<10} {gpus}"
                + ("" if host.status_reason == "ok" else f"  ({host.status_reason})")
            )


@hosts_app.command("check")
def hosts_check(
    name: Annotated[str, typer.Argument(help="Host name; all when omitted.")] = "",
) -> None:
    """Check reachability, disk, GPUs and code-server now."""
    from fleet import health, hosts
    from fleet.connections import Connections

    settings, session = _session()
    connections = Connections(settings.prefix)
    with session:
        targets = [hosts.by_name(session, name)] if name else hosts.all_hosts(session)
        if targets == [None]:
            _fail(f"no host named {name}")
        for host in targets:
            result = health.check(session, host, connections, utcnow())
            typer.echo(f"{host.name}: {host.status} ({result.reason})")
    connections.close()


@hosts_app.command("prepare")
def hosts_prepare(name: Annotated[str, typer.Argument(help="Host name.")]) -> None:
    """Install every catalogued task family on a host and run its install(), so no Start waits
    for it; prints each outcome. Exit status 1 when one failed, 2 when the host is unknown or
    did not answer."""
    from environments.catalogue import discover
    from fleet import hosts, preparation
    from fleet.connections import Connections
    from fleet.drivers.base import HostUnreachable

    settings, session = _session()
    connections = Connections(settings.prefix)
    with session:
        host = hosts.by_name(session, name)
        if host is None:
            connections.close()
            _fail(f"no host named {name}; `baseliner hosts list` shows them")
        typer.echo(f"preparing {host.name}…")
        catalogue = discover(settings.environment_dirs)
        for error in catalogue.errors:  # a family that does not load is not installed either
            typer.echo(f"note: not installed, the family does not load: {error}", err=True)
        try:
            rows = preparation.prepare(
                session, host, connections.driver(host), catalogue, None, utcnow()
            )
            session.commit()
        except HostUnreachable as exc:
            _fail(f"{host.name} did not answer: {exc}")
        finally:
            connections.close()
        for row in rows:
            typer.echo(f"  {row.summary}")
        failed = [row.family for row in rows if not row.ok]
        if failed:
            typer.echo(f"error: not installed on {host.name}: {', '.join(failed)}", err=True)
            raise typer.Exit(code=1)
        typer.echo(f"{host.name}: {len(rows)} famil{'y' if len(rows) == 1 else 'ies'} installed")


@hosts_app.command("drain")
def hosts_drain(
    name: Annotated[str, typer.Argument(help="Host name.")],
    undo: Annotated[bool, typer.Option("--undo", help="Take new workspaces again.")] = False,
) -> None:
    """Stop placing new workspaces on a host; live ones stay."""
    from fleet import hosts

    _, session = _session()
    with session:
        host = hosts.by_name(session, name)
        if host is None:
            _fail(f"no host named {name}")
        hosts.set_draining(session, host, not undo, None, utcnow())
        session.commit()
        typer.echo(f"{host.name}: {'draining' if not undo else host.status}")


def _saved_task_settings(settings: Settings) -> dict | None:
    """Numbers coordinators saved in the portal, or None (said on stderr) where the database
    cannot be read; listing never creates or migrates a database."""
    from sqlalchemy.exc import SQLAlchemyError

    from environments import task_settings

    url = settings.db_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        typer.echo(f"note: no database at {url}; manifest values only", err=True)
        return None
    engine = db.make_engine(url)
    try:
        with Session(engine) as session:
            return task_settings.all_saved(session)
    except SQLAlchemyError as exc:
        reason = str(exc.orig if getattr(exc, "orig", None) else exc).splitlines()[0]
        typer.echo(f"note: database not readable ({reason}); manifest values only", err=True)
        return None
    finally:
        engine.dispose()


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


@env_app.command("list")
def env_list() -> None:
    """Every task with its numbers (the manifest's, filled in by the portal's) and whether it is
    ready for baselines. Manifest errors go to stderr and make the exit status 1."""
    from environments import task_settings
    from environments.catalogue import discover

    settings = Settings()
    catalogue = discover(settings.environment_dirs)
    saved = _saved_task_settings(settings) or {}
    head = ["environment", "version", "files", "GPUs", "metric", "direction", "y_s", "y_r"]
    rows = [[*head, "time limit", "status"]]
    for family, task in catalogue.tasks():
        name = f"{family.name}/{task.name}"
        meta = task_settings.merge(task.meta, saved.get(name))
        low, high = task.gpu_count or (0, 0)
        gpus = "none" if not high else f"{low}{'' if low == high else f'-{high}'}"
        gpus += f" {task.gpu_model}" if high and task.gpu_model else ""
        rows.append(
            [
                name,
                task.version or "-",
                family.version,
                gpus,
                meta.metric or "-",
                meta.direction or "-",
                "-" if meta.y_s is None else f"{meta.y_s:g}",
                "-" if meta.y_r is None else f"{meta.y_r:g}",
                f"{meta.time_limit_s / 3600:g} h",
                task_settings.status(meta),
            ]
        )
    for line in _table(rows):
        typer.echo(line)
    for error in catalogue.errors:
        typer.echo(f"error: {error}", err=True)
    if catalogue.errors:
        raise typer.Exit(code=1)


@env_app.command("check")
def env_check(
    environment: Annotated[str, typer.Argument(help="FAMILY/TASK, e.g. triton_cumsum/main.")],
    host: Annotated[str, typer.Option(help="Registered host to check on.")] = "local",
    tolerance: Annotated[
        float, typer.Option(help="Allowed drift from y_s and y_r, in normalised units.")
    ] = 0.1,
    timeout: Annotated[float, typer.Option(help="Limit for each scoring, in seconds.")] = 600,
) -> None:
    """Start the task on a host, score its starting and reference solutions, and compare them
    with the manifest's y_s and y_r. Exit status 1 when a score is invalid or drifts."""
    import json

    from environments import task_settings, workspace_files
    from environments.catalogue import discover
    from fleet import env_check as checks
    from fleet import hosts, task_runs
    from fleet.connections import Connections
    from fleet.drivers.base import HostError

    settings, session = _session()
    connections = Connections(settings.prefix)
    with session:
        try:
            ref = workspace_files.find(discover(settings.environment_dirs), environment)
        except DomainError as exc:
            _fail(exc.message)
        target = hosts.by_name(session, host)
        if target is None:
            _fail(f"no host named {host}; `baseliner hosts list` shows them")
        meta = task_settings.effective(session, ref.family, ref.task)
        launch = task_runs.launch_for(ref.family, ref.task, meta)
        typer.echo(f"checking {ref.name} ({ref.family.version}) on {target.name}…")
        try:
            gpus = checks.free_gpus(session, target, launch.gpu_count)
            report = checks.check(
                connections.driver(target),
                target,
                launch,
                y_s=meta.y_s,
                y_r=meta.y_r,
                reference=meta.reference,
                gpus=gpus,
                prefix=settings.prefix,
                tolerance=tolerance,
                timeout=timeout,
                reference_command=meta.reference_command,
                reference_limit_s=meta.time_limit_s,
                calibrated_for=meta.calibrated_for,
            )
        except HostError as exc:
            _fail(str(exc))
        finally:
            connections.close()
    for line in report.lines:
        result = line.result
        raw = "-" if result.score is None else f"{result.score:.4f}"
        norm = "-" if line.normalised is None else f"{line.normalised:.3f}"
        expected = "-" if line.expected is None else f"{line.expected:g}"
        typer.echo(
            f"{line.label:<20} {result.status:<8} score {raw:>9}  normalised {norm:>7}"
            f"  manifest {expected:>7}  {result.seconds:.1f} s"
        )
        if line.problem:
            typer.echo(f"  ! {line.problem}", err=True)
        if not result.valid:
            typer.echo("  " + json.dumps(result.message)[:500], err=True)
    for note in report.notes:
        typer.echo(f"note: {note}")
    typer.echo("ok" if report.ok else "FAILED")
    if not report.ok:
        raise typer.Exit(code=1)


class DataFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"
    jsonl = "jsonl"


class TableFormat(StrEnum):
    csv = "csv"
    json = "json"


class ImportFormat(StrEnum):
    baseliner = "baseliner"
    vivaria = "vivaria"
    inspect = "inspect"


TaskOption = Annotated[
    list[str] | None, typer.Option("--task", help="FAMILY/TASK; repeat for several.")
]
AgentOption = Annotated[
    list[str] | None, typer.Option("--agent", help="'human' or an agent's name; repeatable.")
]
SourceOption = Annotated[
    list[str] | None,
    typer.Option("--source", help="baseliner, vivaria, inspect or csv; repeatable."),
]
SinceOption = Annotated[
    str, typer.Option("--since", help="Runs started at or after this date or ISO time (UTC).")
]
UntilOption = Annotated[
    str, typer.Option("--until", help="Runs started before this date or ISO time (UTC).")
]
OverriddenOption = Annotated[
    bool,
    typer.Option(
        "--exclude-overridden", help="Leave out runs whose work periods a coordinator replaced."
    ),
]
CpuOption = Annotated[
    bool,
    typer.Option("--exclude-cpu-mode", help="Leave out GPU task runs scored without a GPU."),
]


def _filters(
    tasks: list[str] | None,
    agents: list[str] | None,
    sources: list[str] | None,
    since: str,
    until: str,
    exclude_overridden: bool,
    exclude_cpu_mode: bool,
):
    from analytics.dataset import Filters
    from analytics.importing import parse_time

    try:
        start, end = parse_time(since or None), parse_time(until or None)
    except ValueError as exc:
        _fail(f"--since/--until: {exc}")
    return Filters(
        tasks=tuple(tasks or ()),
        agents=tuple(agents or ()),
        sources=tuple(sources or ()),
        since=start,
        until=end,
        include_overridden=not exclude_overridden,
        include_cpu_mode=not exclude_cpu_mode,
    )


def _write_out(data: bytes, output: Path | None) -> None:
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    output.write_bytes(data)
    typer.echo(f"wrote {output} ({len(data)} bytes)", err=True)


def _export(
    table: str,
    fmt: DataFormat,
    output: Path | None,
    filters,
) -> None:
    from analytics import dataset, formats

    settings, session = _session()
    with session:
        runs, log = dataset.load(
            session, key=settings.session_secret, now=utcnow(), filters=filters
        )
    if table == "runs":
        data = formats.runs_bytes(runs, fmt.value)
    else:
        data = formats.score_log_bytes(log, fmt.value)
    _write_out(data, output)


@export_app.command("runs")
def export_runs(
    fmt: Annotated[DataFormat, typer.Option("--format", help="File format.")] = DataFormat.csv,
    output: Annotated[Path | None, typer.Option(help="File to write; stdout if left out.")] = None,
    task: TaskOption = None,
    agent: AgentOption = None,
    source: SourceOption = None,
    since: SinceOption = "",
    until: UntilOption = "",
    exclude_overridden: OverriddenOption = False,
    exclude_cpu_mode: CpuOption = False,
) -> None:
    """The runs table: humans from this portal (pseudonymous) and imported agent runs."""
    filters = _filters(task, agent, source, since, until, exclude_overridden, exclude_cpu_mode)
    _export("runs", fmt, output, filters)


@export_app.command("score-log")
def export_score_log(
    fmt: Annotated[DataFormat, typer.Option("--format", help="File format.")] = DataFormat.csv,
    output: Annotated[Path | None, typer.Option(help="File to write; stdout if left out.")] = None,
    task: TaskOption = None,
    agent: AgentOption = None,
    source: SourceOption = None,
    since: SinceOption = "",
    until: UntilOption = "",
    exclude_overridden: OverriddenOption = False,
    exclude_cpu_mode: CpuOption = False,
) -> None:
    """The score log: every scored submission of the runs the filters keep."""
    filters = _filters(task, agent, source, since, until, exclude_overridden, exclude_cpu_mode)
    _export("score-log", fmt, output, filters)


def _numbers(settings: Settings, session: Session):
    """Each task's normalisation and aggregation, asked once per task."""
    from analytics import task_numbers
    from analytics.importing import cached
    from environments.catalogue import discover

    catalogue = discover(settings.environment_dirs)
    return cached(lambda task_id: task_numbers.lookup(session, catalogue, task_id))


@import_app.command("runs")
def import_runs(
    runs: Annotated[
        Path, typer.Option("--runs", help="Runs file (for Inspect: the .eval or .json log).")
    ],
    score_log: Annotated[
        Path | None, typer.Option("--score-log", help="Score log file (not for Inspect).")
    ] = None,
    fmt: Annotated[
        ImportFormat, typer.Option("--format", help="Whose schema the files follow.")
    ] = ImportFormat.baseliner,
    y_s: Annotated[
        float | None, typer.Option("--y-s", help="Normalise with this starting score.")
    ] = None,
    y_r: Annotated[
        float | None, typer.Option("--y-r", help="Normalise with this reference score.")
    ] = None,
) -> None:
    """Import runs and their score logs; the same runs imported again replace the earlier
    copies. Bad rows are listed with their line numbers and nothing is written."""
    from analytics import importing, inspect_logs, vivaria
    from analytics.formats import FormatError

    settings, session = _session()
    with session:
        try:
            numbers = importing.numbers_with(_numbers(settings, session), y_s, y_r)
            if fmt == ImportFormat.inspect:
                if score_log is not None:
                    _fail("an Inspect log holds its own scores; leave out --score-log")
                batch = inspect_logs.read(runs)
            elif fmt == ImportFormat.vivaria:
                batch = vivaria.read(runs, score_log)
            else:
                batch = importing.read_files(runs, score_log)
            result = importing.store(session, batch, utcnow(), numbers)
            session.commit()
        except importing.ImportRejected as exc:
            session.rollback()
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(code=1) from None
        except (FormatError, ValueError, inspect_logs.InspectMissing) as exc:
            session.rollback()
            _fail(str(exc))
    typer.echo(str(result))


def _table_out(rows, columns, fmt: TableFormat, output: Path | None) -> None:
    from analytics.reports import to_csv, to_json

    text = to_csv(rows, columns) if fmt == TableFormat.csv else to_json(rows, columns)
    _write_out(text.encode(), output)


def _hours(text: str, option: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        _fail(f"{option}: give hours as numbers separated by commas (is {text!r})")
    if not values or any(v <= 0 for v in values):
        _fail(f"{option}: give at least one number of hours above 0")
    return values


@analytics_app.command("curve")
def analytics_curve(
    task: Annotated[str, typer.Option("--task", help="FAMILY/TASK.")],
    agent: AgentOption = None,
    fmt: Annotated[TableFormat, typer.Option("--format", help="Output format.")] = (
        TableFormat.csv
    ),
    points: Annotated[int, typer.Option(help="Points on the time grid.", min=2)] = 61,
    until_hours: Annotated[
        float | None, typer.Option(help="End of the grid (default: the longest run).")
    ] = None,
    samples: Annotated[int, typer.Option(help="Bootstrap samples for the band.", min=1)] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    output: Annotated[Path | None, typer.Option(help="File to write; stdout if left out.")] = None,
    exclude_overridden: OverriddenOption = False,
    exclude_cpu_mode: CpuOption = False,
) -> None:
    """Mean normalised score over working time with a 95 % bootstrap band, per agent
    (columns agent, elapsed_s, mean, lo, hi, n)."""
    from analytics import curves, reports

    filters = _filters(None, None, None, "", "", exclude_overridden, exclude_cpu_mode)
    settings, session = _session()
    with session:
        rows = reports.curve_rows(
            session,
            key=settings.session_secret,
            now=utcnow(),
            task_id=task,
            numbers=_numbers(settings, session),
            agents=agent or (),
            points=points,
            until_s=None if until_hours is None else until_hours * 3600,
            samples=samples,
            seed=seed,
            filters=filters,
        )
    _table_out(rows, curves.COLUMNS, fmt, output)


@analytics_app.command("best-of-k")
def analytics_best_of_k(
    task: Annotated[str, typer.Option("--task", help="FAMILY/TASK.")],
    limit_hours: Annotated[
        str, typer.Option("--limit-hours", help="Per-run limit L in hours (L[,L…]).")
    ],
    budget_hours: Annotated[
        str, typer.Option("--budget-hours", help="Total budgets B in hours (B[,B…]).")
    ],
    agent: AgentOption = None,
    samples: Annotated[int, typer.Option(help="Bootstrap samples for the band.", min=1)] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    fmt: Annotated[TableFormat, typer.Option("--format", help="Output format.")] = (
        TableFormat.csv
    ),
    output: Annotated[Path | None, typer.Option(help="File to write; stdout if left out.")] = None,
    exclude_overridden: OverriddenOption = False,
    exclude_cpu_mode: CpuOption = False,
) -> None:
    """Expected best of k = B / L runs and its 95 % bootstrap band, per agent (columns agent,
    limit_hours, budget_hours, k, mean, lo, hi, n_runs)."""
    from analytics import best_of_k, reports

    limits = _hours(limit_hours, "--limit-hours")
    budgets = _hours(budget_hours, "--budget-hours")
    filters = _filters(None, None, None, "", "", exclude_overridden, exclude_cpu_mode)
    settings, session = _session()
    with session:
        rows = reports.best_of_k_rows(
            session,
            key=settings.session_secret,
            now=utcnow(),
            task_id=task,
            numbers=_numbers(settings, session),
            limits_s=[h * 3600 for h in limits],
            budgets_s=[h * 3600 for h in budgets],
            agents=agent or (),
            samples=samples,
            seed=seed,
            filters=filters,
        )
    _table_out(rows, best_of_k.COLUMNS, fmt, output)


@analytics_app.command("summary")
def analytics_summary(
    task: TaskOption = None,
    agent: AgentOption = None,
    fmt: Annotated[TableFormat, typer.Option("--format", help="Output format.")] = (
        TableFormat.csv
    ),
    output: Annotated[Path | None, typer.Option(help="File to write; stdout if left out.")] = None,
    exclude_overridden: OverriddenOption = False,
    exclude_cpu_mode: CpuOption = False,
) -> None:
    """Per task and agent: ended runs, mean and median final normalised score, share above 0,
    share at or above 1."""
    from analytics import reports, summary

    filters = _filters(task, agent, None, "", "", exclude_overridden, exclude_cpu_mode)
    settings, session = _session()
    with session:
        rows = reports.summary_rows(
            session,
            key=settings.session_secret,
            now=utcnow(),
            numbers=_numbers(settings, session),
            filters=filters,
        )
    _table_out(rows, summary.COLUMNS, fmt, output)


@app.command()
def demo(
    host: HostOption = None,
    port: PortOption = None,
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve")] = True,
) -> None:
    """Create demo accounts for every role and a labelled sample of scored runs, print the
    logins, then serve."""
    from timetracking.pay_periods import PayCalendar
    from webapp.demo import seed

    settings = listening(_settings(), host, port)
    db.upgrade(settings.db_url)
    engine = db.make_engine(settings.db_url)
    logins = seed(engine, settings.prefix, PayCalendar.of(settings), settings=settings)
    where = f"{settings.public_url}/"
    if settings.host in ("0.0.0.0", "::"):
        where += f"  (listening on every address, port {settings.port})"
    typer.echo("")
    typer.echo(f"Baseliner demo at {where}  (data in {settings.data_dir.resolve()})")
    typer.echo("")
    typer.echo(f"  {'role':<12} {'email':<32} password")
    for role, email, password in logins:
        typer.echo(f"  {role:<12} {email:<32} {password}")
    typer.echo("")
    if serve_after:
        _serve(settings)


@backup_app.command("create")
def backup_create(
    to: Annotated[Path, typer.Option(help="Folder that holds the backups.")],
    keep: Annotated[int, typer.Option(help="Keep this many newest backups (0: all).")] = 0,
) -> None:
    """Back up the database and the data dir into a new folder under --to."""
    from webapp import backups

    settings = Settings()
    try:
        made = backups.create(settings.db_url, settings.data_dir, to, utcnow())
    except backups.BackupError as exc:
        _fail(str(exc))
    typer.echo(f"backup written to {made.folder}")
    for folder in backups.prune(to, keep):
        typer.echo(f"removed the older backup {folder}")


@backup_app.command("restore")
def backup_restore(
    folder: Annotated[Path, typer.Argument(help="A folder `backup create` made.")],
    replace: Annotated[
        bool, typer.Option(help="Overwrite a database and data dir that already hold data.")
    ] = False,
) -> None:
    """Put a backup back: checks every file first, then the database, the data dir, the schema."""
    from webapp import backups

    settings = Settings()
    try:
        manifest = backups.restore(folder, settings.db_url, settings.data_dir, replace=replace)
    except backups.BackupError as exc:
        _fail(str(exc))
    typer.echo(f"restored the backup of {manifest['created_at']} from {folder}")


def main() -> None:
    app()
