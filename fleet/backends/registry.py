"""Which backends and ways of reaching a host exist: the one place that maps a host record's
names to code. Adding a backend is adding its module and one line to ``BACKENDS``."""

from typing import Any

from pydantic import ValidationError

from fleet.backends.base import Backend, BackendSettings
from fleet.backends.container import ContainerBackend
from fleet.backends.process import ProcessBackend
from fleet.backends.reach import LocalReach, Reach, SSHReach
from fleet.backends.slurm import SlurmBackend
from fleet.drivers.base import Driver

BACKENDS: dict[str, type[Backend]] = {
    backend.name: backend for backend in (ProcessBackend, ContainerBackend, SlurmBackend)
}
REACHES: dict[str, Reach] = {reach.name: reach for reach in (LocalReach(), SSHReach())}


def backend_class(name: str) -> type[Backend]:
    try:
        return BACKENDS[name]
    except KeyError:
        raise ValueError(f"no backend called {name!r}") from None


def reach(name: str) -> Reach:
    try:
        return REACHES[name]
    except KeyError:
        raise ValueError(f"no way of reaching hosts called {name!r}") from None


def settings_of(host: Any) -> BackendSettings:
    """A host record's backend settings as its backend's typed object."""
    return backend_class(host.backend).Settings.model_validate(host.settings or {})


def build(host: Any, driver: Driver) -> Backend:
    """The backend that runs a host's workspaces, over ``driver``."""
    return backend_class(host.backend)(driver, host.username, settings_of(host))


def setting_fields(backend: str | None = None) -> list[str]:
    """The settings' names of ``backend`` (none for an unknown one), or of every backend
    (unique across backends): the host form's extra inputs."""
    chosen = [BACKENDS[backend]] if backend in BACKENDS else [] if backend else BACKENDS.values()
    return sorted({name for cls in chosen for name in cls.Settings.model_fields})


def settings_problems(backend: str, settings: dict[str, Any]) -> dict[str, str]:
    """What is wrong with ``settings`` for ``backend``, one message per field."""
    if backend not in BACKENDS:
        return {"backend": f"Choose one of: {', '.join(BACKENDS)}."}
    model = BACKENDS[backend].Settings
    try:
        return model.model_validate(settings).problems()
    except ValidationError as exc:
        errors = {str(e["loc"][0]) if e["loc"] else "backend": e["msg"] for e in exc.errors()}
    # Every message at once: the other checks on the fields that passed (defaults for the rest).
    passed = {k: v for k, v in settings.items() if k in model.model_fields and k not in errors}
    return {**model.model_construct(**passed).problems(), **errors}


def setting_inputs() -> list[tuple[str, str, str, list[str]]]:
    """(name, label, hint, backends) of every backend setting, in registry order: the host
    form's inputs, labelled by the fields' titles and the backends that read them."""
    users: dict[str, list[str]] = {}
    found: dict[str, tuple[str, str]] = {}
    for name, backend in BACKENDS.items():
        for field, info in backend.Settings.model_fields.items():
            users.setdefault(field, []).append(name)
            found.setdefault(field, (info.title or field, info.description or ""))
    return [
        (field, f"{title} ({', '.join(users[field])})", hint, users[field])
        for field, (title, hint) in found.items()
    ]


def summary(host: Any) -> str:
    """A host's backend settings that differ from the backend's defaults, as the hosts page
    lists them."""
    defaults = backend_class(host.backend).Settings().model_dump()
    return ", ".join(
        f"{k}={v}" for k, v in (host.settings or {}).items() if v != defaults.get(k, "")
    )


def choices() -> list[tuple[str, str]]:
    """(name, label) of every backend, for the hosts page."""
    return [(name, backend.label) for name, backend in BACKENDS.items()]
