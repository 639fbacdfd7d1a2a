"""Coordinator pages for GPU hosts: register one (pinning its SSH key), check, prepare (install
every task family), drain, list."""

from fastapi import Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from baselines.errors import DomainError
from environments.catalogue import discover
from fleet import health, hosts, preparation
from fleet.backends import registry
from fleet.drivers import ssh
from fleet.drivers.base import HostError
from fleet.hosts import HostCreate
from webapp.auth.sessions import flash
from webapp.deps import CoordinatorUser, NowDep, RowId, SessionDep
from webapp.forms import field_error, parse, partial, text_fields
from webapp.routes import pages_router
from webapp.templating import render

router = pages_router(prefix="/coordinator/hosts")
FIELDS = (
    "name",
    "driver",
    "address",
    "port",
    "username",
    "key_path",
    "backend",
    "max_workspaces",
    "host_key",
    "fingerprint",
    *registry.setting_fields(),
)


def _page(request, session, status_code=200, **extra):
    context = {
        "hosts": hosts.all_hosts(session),
        "families": preparation.by_host(session),
        "backends": registry.choices(),
        "setting_inputs": registry.setting_inputs(),
        "where": lambda host: registry.reach(host.driver).where(host),
        "summary": registry.summary,
        "values": {
            "port": "22",
            "username": "root",
            "driver": "ssh",
            "backend": "process",
            "max_workspaces": "4",
        },
        "errors": {},
        "fetched": None,
    }
    context.update(extra)
    return render(request, "coordinator/hosts.html", context, status_code=status_code)


@router.get("")
def list_hosts(request: Request, user: CoordinatorUser, session: SessionDep):
    return _page(request, session)


@router.post("")
async def add_host(request: Request, user: CoordinatorUser, session: SessionDep, now: NowDep):
    """Two steps when no key is given: fetch the host's key and show its fingerprint; only when
    the coordinator confirms it (the form comes back with that fingerprint) is it pinned."""
    values = text_fields(await request.form(), *FIELDS)
    given = {k: v for k, v in values.items() if v != "" and k in HostCreate.model_fields}
    # The backend's own inputs; only its own are kept (a hidden field of another is ignored).
    fields = registry.setting_fields(values.get("backend", ""))
    given["settings"] = {k: values[k] for k in fields if values[k] != ""}
    data, errors = parse(HostCreate, given)
    # The cross-field checks too, on the fields that passed: every message at once.
    errors = {**(data or partial(HostCreate, given, errors)).problems(), **errors}
    if errors and "name" not in errors and hosts.by_name(session, values["name"].strip()):
        errors["name"] = "A host with this name exists."  # said now, not on the next attempt
    if errors:
        return _page(request, session, 400, values=values, errors=errors)
    host_key = values["host_key"].strip()
    pins = registry.reach(data.driver).pins_key
    if pins and not host_key:
        try:
            fetched = await run_in_threadpool(ssh.fetch_host_key, data.address, data.port, 10.0)
        except HostError as exc:
            return _page(request, session, 400, values=values, errors={"address": str(exc)})
        print_ = ssh.fingerprint(fetched)
        if values["fingerprint"] != print_:
            # First sight (or the key changed since the coordinator looked): show, don't pin.
            shown = {**values, "fingerprint": print_, "fetched_key": fetched}
            return _page(request, session, 200, values=shown, fetched=print_)
        host_key = fetched
    if host_key and pins:
        try:
            ssh.parse_key_line(host_key)  # the key the driver will pin must parse
        except ValueError:
            return _page(
                request,
                session,
                400,
                values=values,
                errors={"host_key": "Paste one OpenSSH public-key line, e.g. ssh-ed25519 AAAA…"},
            )
    try:
        host = hosts.add(session, data, host_key, user, now)
        session.commit()
    except DomainError as exc:
        session.rollback()
        return _page(request, session, 400, values=values, errors=field_error(exc))
    result = await run_in_threadpool(
        health.check, session, host, request.app.state.workspaces.connections, now
    )
    flash(
        request,
        f"Host {host.name} added: {host.status} ({result.reason}).",
        "ok" if result.ok else "error",
    )
    return RedirectResponse("/coordinator/hosts", status_code=303)


@router.post("/{host_id}/check")
async def check_host(
    request: Request, host_id: RowId, user: CoordinatorUser, session: SessionDep, now: NowDep
):
    host = hosts.get(session, host_id)
    result = await run_in_threadpool(
        health.check, session, host, request.app.state.workspaces.connections, now
    )
    flash(request, f"{host.name}: {host.status} ({result.reason}).", "ok" if result.ok else "error")
    return RedirectResponse("/coordinator/hosts", status_code=303)


@router.post("/{host_id}/prepare")
def prepare_host(
    request: Request, host_id: RowId, user: CoordinatorUser, session: SessionDep, now: NowDep
):
    """Install every catalogued family there, in the background (an install() may build for
    minutes), so no expert's Start waits for an install and a failing install() shows here
    before anyone is assigned. The page lists each family as installing until it is done."""
    host = hosts.get(session, host_id)
    settings = request.app.state.settings
    jobs = request.app.state.workspaces
    if jobs.busy(("host", host.id)):
        flash(request, f"{host.name} is being prepared already; the list shows how far it got.")
        return RedirectResponse("/coordinator/hosts", status_code=303)
    catalogue = discover(settings.environment_dirs)
    rows = preparation.begin(session, host, catalogue, now)
    session.commit()
    jobs.prepare_host(host.id, user.id, settings.environment_dirs)
    count = f"{len(rows)} task famil{'y' if len(rows) == 1 else 'ies'}"
    flash(
        request,
        f"Preparing {host.name}: installing {count}. Each one's outcome shows in the list as "
        "it finishes (a family that builds models can take minutes).",
    )
    return RedirectResponse("/coordinator/hosts", status_code=303)


def _drain(request: Request, host_id: int, user, session, now, draining: bool, said: str):
    host = hosts.get(session, host_id)
    hosts.set_draining(session, host, draining, user, now)
    session.commit()
    flash(request, f"{host.name} {said}")
    return RedirectResponse("/coordinator/hosts", status_code=303)


@router.post("/{host_id}/drain")
def drain(
    request: Request, host_id: RowId, user: CoordinatorUser, session: SessionDep, now: NowDep
):
    said = "is draining: live workspaces stay, no new ones start."
    return _drain(request, host_id, user, session, now, True, said)


@router.post("/{host_id}/undrain")
def undrain(
    request: Request, host_id: RowId, user: CoordinatorUser, session: SessionDep, now: NowDep
):
    return _drain(request, host_id, user, session, now, False, "takes new workspaces again.")
