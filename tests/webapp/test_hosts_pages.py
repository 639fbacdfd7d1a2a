"""Registering GPU hosts, on the coordinator's page and with ``baseliner hosts``, against a real
sshd on loopback (this machine over SSH): the host key is pinned only once the coordinator has
confirmed its fingerprint, bad input is refused next to its field, and hosts are checked,
drained and undrained."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from baselines.users import Role
from environments.catalogue import discover
from fleet import hosts, preparation
from fleet.drivers import ssh
from fleet.hosts import Host, HostCreate, HostStatus
from fleet.testing_sshd import LoopbackSSHD, free_port
from tests.conftest import login, post_form
from tests.hosts import ready_host
from tests.live_runs import PROBE_FAMILIES
from timetracking.utc import utcnow

BIN = Path(sys.executable).parent / "baseliner"
PAGE = "/coordinator/hosts"
BROKEN_FAMILIES = Path(__file__).resolve().parents[1] / "fleet" / "broken_families"
FAMILY_DIRS = os.pathsep.join([str(PROBE_FAMILIES), str(BROKEN_FAMILIES)])
# This machine's GPUs, as the health check counts them (none where nvidia-smi is missing).
GPUS = (
    len(
        subprocess.run(
            ["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
            capture_output=True,
            text=True,
        ).stdout.split()
    )
    if shutil.which("nvidia-smi")
    else 0
)


def keygen_fingerprint(pub: Path) -> str:
    """What the coordinator reads on the host's console: ``ssh-keygen -lf``."""
    out = subprocess.run(["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True)
    return out.stdout.split()[1]


def other_key(folder: Path) -> str:
    """A valid ed25519 public-key line that is not the sshd's."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / "other")], check=True
    )
    return " ".join((folder / "other.pub").read_text().split()[:2])


def form(sshd: LoopbackSSHD, **changes: str) -> dict[str, str]:
    values = {
        "name": "gpu-01",
        "driver": "ssh",
        "address": sshd.address,
        "port": str(sshd.port),
        "username": sshd.username,
        "key_path": str(sshd.key_path),
        "backend": "process",
        "max_workspaces": "4",
        "host_key": "",
    }
    return {**values, **changes}


def field_error(html: str, name: str) -> str | None:
    """The message shown next to field ``name``, if any."""
    found = re.search(rf'<p class="field-error" id="{name}-error">(.*?)</p>', html, re.S)
    return found.group(1) if found else None


def all_hosts(engine) -> list[Host]:
    with Session(engine) as s:
        return list(s.exec(select(Host).order_by(Host.id)))


@pytest.fixture
def coordinator(client: TestClient, make_user) -> TestClient:
    login(client, make_user(Role.coordinator))
    return client


def add(client: TestClient, data: dict[str, str]):
    return post_form(client, PAGE, data, page=PAGE)


def pinned_host(engine, sshd: LoopbackSSHD, name: str = "gpu-01", key: str | None = None) -> int:
    data = HostCreate(
        name=name,
        driver="ssh",
        address=sshd.address,
        port=sshd.port,
        username=sshd.username,
        key_path=str(sshd.key_path),
    )
    with Session(engine) as s:
        host = hosts.add(s, data, key or sshd.host_key_line, None, utcnow())
        s.commit()
        return host.id


# --- the page -------------------------------------------------------------------------------------


def test_an_ssh_host_is_pinned_only_after_its_fingerprint_is_confirmed(
    coordinator: TestClient, sshd: LoopbackSSHD, engine
) -> None:
    expected = keygen_fingerprint(sshd.host_pub_path)
    shown = add(coordinator, form(sshd))
    assert shown.status_code == 200
    confirm = re.search(r'<div[^>]*id="confirm-fingerprint"[^>]*>(.*?)</div>', shown.text, re.S)
    assert confirm and f"<code>{expected}</code>" in confirm.group(1)
    assert f'name="fingerprint" value="{expected}"' in shown.text
    assert "Confirm fingerprint and add host" in shown.text
    assert all_hosts(engine) == []  # nothing pinned yet

    # A fingerprint that is not the one the host presents now only shows the page again.
    again = add(coordinator, form(sshd, fingerprint="SHA256:" + "A" * 43))
    assert again.status_code == 200 and f"<code>{expected}</code>" in again.text
    assert all_hosts(engine) == []

    done = add(coordinator, form(sshd, fingerprint=expected))
    assert (done.status_code, done.headers["location"]) == (303, PAGE)
    [host] = all_hosts(engine)
    assert host.host_key == sshd.host_key_line
    assert ssh.fingerprint(host.host_key) == expected
    # Checked at once over SSH: code-server is installed on this machine, so it is ready.
    assert host.status == HostStatus.ready, host.status_reason
    assert len(host.gpus) == GPUS and host.disk_free_gb and host.last_seen
    page = coordinator.get(PAGE).text
    assert "Host gpu-01 added: ready (ok)." in page
    assert f"{sshd.username}@{sshd.address}:{sshd.port}" in page


def test_a_pasted_host_key_is_pinned_as_given(
    coordinator: TestClient, sshd: LoopbackSSHD, engine, tmp_path
) -> None:
    """A key given up front is pinned without asking; one that is not the host's leaves the
    host down, saying both fingerprints."""
    done = add(coordinator, form(sshd, host_key=sshd.host_key_line + " root@gpu-01\n"))
    assert done.status_code == 303
    wrong = other_key(tmp_path)
    done = add(coordinator, form(sshd, name="gpu-02", host_key=wrong))
    assert done.status_code == 303
    first, second = all_hosts(engine)
    assert first.host_key == sshd.host_key_line + " root@gpu-01"  # as pasted, trimmed
    assert first.status == HostStatus.ready, first.status_reason
    assert (second.host_key, second.status) == (wrong, HostStatus.down)
    presented = keygen_fingerprint(sshd.host_pub_path)
    for words in (presented, ssh.fingerprint(wrong), "is pinned"):
        assert words in second.status_reason
    page = coordinator.get(PAGE).text
    assert "Host gpu-02 added: down (" in page and presented in page


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"host_key": "garbage"}, "host_key", "Paste one OpenSSH public-key line"),
        ({"host_key": "ssh-ed25519 not-base64!!"}, "host_key", "Paste one OpenSSH public-key"),
        ({"host_key": "ssh-ed25519 AAAA"}, "host_key", "Paste one OpenSSH public-key line"),
        ({"host_key": "ssh-nope AAAAC3NzaC1lZDI1NTE5"}, "host_key", "Paste one OpenSSH public-key"),
        ({"port": "abc"}, "port", "Enter a whole number."),
        ({"port": "70000"}, "port", "65535"),
        ({"port": "0"}, "port", "greater than or equal to 1"),
        ({"name": ""}, "name", "Required."),
        ({"name": "GPU 01!"}, "name", "lowercase letters, digits and dashes"),
        ({"name": "x" * 65}, "name", "Use at most 64 characters."),
        ({"address": ""}, "address", "An SSH host needs an address."),
        ({"key_path": ""}, "key_path", "Give the path of the private key"),
        ({"max_workspaces": "0"}, "max_workspaces", "greater than or equal to 1"),
        ({"backend": "container"}, "image", "The container runtime needs an image name."),
        ({"python": "python3; rm -rf /"}, "python", "Give a path or a command name"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_bad_input_is_refused_next_to_its_field(
    coordinator: TestClient, sshd: LoopbackSSHD, engine, changes, field, message
) -> None:
    response = add(coordinator, form(sshd, **changes))
    assert response.status_code == 400
    shown = field_error(response.text, field)
    assert shown and message in shown, (field, shown)
    assert all_hosts(engine) == []
    # What was typed stays in the form.
    if field in ("name", "port") and changes[field]:
        assert f'value="{changes[field]}"' in response.text


def test_an_address_where_no_ssh_answers_is_refused_next_to_it(
    coordinator: TestClient, sshd: LoopbackSSHD, engine
) -> None:
    response = add(coordinator, form(sshd, port=str(free_port())))
    assert response.status_code == 400
    assert "connection refused" in field_error(response.text, "address")
    assert all_hosts(engine) == []


def test_a_duplicate_name_is_refused_next_to_it(
    coordinator: TestClient, sshd: LoopbackSSHD, engine
) -> None:
    pinned_host(engine, sshd)
    response = add(coordinator, form(sshd, host_key=sshd.host_key_line))
    assert response.status_code == 400
    assert field_error(response.text, "name") == "A host with this name exists."
    assert len(all_hosts(engine)) == 1


def test_check_now_drain_and_undrain(
    coordinator: TestClient, sshd: LoopbackSSHD, engine, tmp_path
) -> None:
    host_id = pinned_host(engine, sshd)
    assert all_hosts(engine)[0].status == HostStatus.down  # not checked yet

    checked = post_form(coordinator, f"{PAGE}/{host_id}/check", {}, page=PAGE)
    assert (checked.status_code, checked.headers["location"]) == (303, PAGE)
    assert "gpu-01: ready (ok)." in coordinator.get(PAGE).text
    assert all_hosts(engine)[0].status == HostStatus.ready

    drained = post_form(coordinator, f"{PAGE}/{host_id}/drain", {}, page=PAGE)
    assert drained.status_code == 303
    page = coordinator.get(PAGE).text
    assert "gpu-01 is draining: live workspaces stay, no new ones start." in page
    assert f'action="{PAGE}/{host_id}/undrain"' in page
    host = all_hosts(engine)[0]
    assert host.draining and host.status == HostStatus.draining
    # A check while draining keeps it draining.
    post_form(coordinator, f"{PAGE}/{host_id}/check", {}, page=PAGE)
    assert all_hosts(engine)[0].status == HostStatus.draining

    undrained = post_form(coordinator, f"{PAGE}/{host_id}/undrain", {}, page=PAGE)
    assert undrained.status_code == 303
    assert "gpu-01 takes new workspaces again." in coordinator.get(PAGE).text
    host = all_hosts(engine)[0]
    assert not host.draining and host.status == HostStatus.ready

    # The host's key changes (it was rebuilt): the next check takes it down, saying why.
    with Session(engine) as s:
        row = s.get(Host, host_id)
        row.host_key = other_key(tmp_path)
        s.add(row)
        s.commit()
    post_form(coordinator, f"{PAGE}/{host_id}/check", {}, page=PAGE)
    host = all_hosts(engine)[0]
    assert host.status == HostStatus.down and "is pinned" in host.status_reason
    page = coordinator.get(PAGE).text
    assert "gpu-01: down (" in page and keygen_fingerprint(sshd.host_pub_path) in page


@pytest.fixture
def with_broken_family(settings) -> str:
    """The probe families and one whose install() raises, as the portal's catalogue."""
    settings.environment_dirs = FAMILY_DIRS
    return FAMILY_DIRS


@pytest.mark.skipif(os.geteuid() != 0, reason="installs families as root")
def test_prepare_installs_every_family_and_shows_what_failed(
    coordinator: TestClient, engine, with_broken_family
) -> None:
    host = ready_host(engine)
    page = coordinator.get(PAGE).text
    assert "not prepared yet" in page and f'action="{PAGE}/{host.id}/prepare"' in page

    prepared = post_form(coordinator, f"{PAGE}/{host.id}/prepare", {}, page=PAGE)
    assert (prepared.status_code, prepared.headers["location"]) == (303, PAGE)
    page = coordinator.get(PAGE).text
    assert "Preparing local: installing " in page  # in the background: the page answers at once
    coordinator.app.state.workspaces.wait(("host", host.id), timeout=600)
    page = coordinator.get(PAGE).text
    assert re.search(r"probe [0-9a-f]{8}: installed", page)
    assert re.search(r"triton_cumsum [0-9a-f]{8}: installed", page)
    assert re.search(
        r"broken_install [0-9a-f]{8}: install\(\) failed: RuntimeError: the weights server is"
        " unreachable",
        page,
    )
    assert "not prepared yet" not in page
    # Bad input: a host that does not exist.
    missing = post_form(coordinator, f"{PAGE}/9999/prepare", {}, page=PAGE)
    assert missing.status_code == 404 and "No such host." in missing.text


def test_preparing_a_host_that_does_not_answer_says_so_for_each_family(
    coordinator: TestClient, sshd: LoopbackSSHD, engine, with_broken_family
) -> None:
    host_id = pinned_host(engine, sshd)
    with Session(engine) as s:  # the host moved: nothing listens at its address any more
        row = s.get(Host, host_id)
        row.port = free_port()
        s.add(row)
        s.commit()
    prepared = post_form(coordinator, f"{PAGE}/{host_id}/prepare", {}, page=PAGE)
    assert prepared.status_code == 303
    coordinator.app.state.workspaces.wait(("host", host_id), timeout=120)
    page = coordinator.get(PAGE).text
    assert "not installed: gpu-01 did not answer:" in page and "installing…" not in page
    with Session(engine) as s:
        rows = preparation.for_host(s, host_id)
    assert rows and not any(row.ok or row.pending for row in rows)


# --- the command line -----------------------------------------------------------------------------


@pytest.fixture
def cli(database_url, tmp_path, engine):
    env = {
        **os.environ,
        "BASELINER_DATABASE_URL": database_url,
        "BASELINER_DATA_DIR": str(tmp_path / "data"),
    }
    env.pop("BASELINER_CONFIG", None)

    def run(*args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(BIN), "hosts", *args],
            capture_output=True,
            text=True,
            env={**env, **(extra_env or {})},
            timeout=300,
        )

    return run


def test_hosts_commands(cli, sshd: LoopbackSSHD, engine) -> None:
    expected = keygen_fingerprint(sshd.host_pub_path)
    where = ["--address", sshd.address, "--port", str(sshd.port), "--key", str(sshd.key_path)]

    shown = cli("add", "--name", "x", *where)
    assert shown.returncode == 3, shown.stderr
    assert f"{sshd.address}:{sshd.port} presents {expected}" in shown.stdout
    assert "--fingerprint" in shown.stdout
    assert all_hosts(engine) == []

    added = cli("add", "--name", "x", *where, "--fingerprint", expected)
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == f"added x: ready (ok); {GPUS} GPU(s)"
    [host] = all_hosts(engine)
    assert host.host_key == sshd.host_key_line

    listed = cli("list")
    assert listed.returncode == 0
    assert re.search(rf"^x\s+ready\s+{sshd.address}:{sshd.port}\s+process", listed.stdout, re.M)

    checked = cli("check", "x")
    assert (checked.returncode, checked.stdout.strip()) == (0, "x: ready (ok)")

    drained = cli("drain", "x")
    assert (drained.returncode, drained.stdout.strip()) == (0, "x: draining")
    assert all_hosts(engine)[0].draining
    undone = cli("drain", "x", "--undo")
    assert (undone.returncode, undone.stdout.strip()) == (0, "x: ready")
    assert not all_hosts(engine)[0].draining

    missing = cli("check", "nope")
    assert missing.returncode == 2 and "no host named nope" in missing.stderr

    garbage = cli("add", "--name", "y", *where, "--host-key", "garbage")
    assert garbage.returncode == 2
    assert "not an OpenSSH public-key line" in garbage.stderr and "Traceback" not in garbage.stderr
    assert len(all_hosts(engine)) == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="installs families as root")
def test_hosts_prepare(cli, engine) -> None:
    added = cli("add", "--name", "here", "--local")
    assert added.returncode == 0, added.stderr
    good = cli("prepare", "here", extra_env={"BASELINER_ENVIRONMENT_DIRS": str(PROBE_FAMILIES)})
    assert good.returncode == 0, good.stdout + good.stderr
    assert re.search(r"^  probe [0-9a-f]{8}: installed$", good.stdout, re.M)
    built_in = len(discover().families)  # the repository's environments come with the probe
    assert good.stdout.splitlines()[-1] == f"here: {built_in + 1} families installed"
    # A family whose install() raises: said with its reason, and exit status 1.
    bad = cli("prepare", "here", extra_env={"BASELINER_ENVIRONMENT_DIRS": FAMILY_DIRS})
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert re.search(
        r"^  broken_install [0-9a-f]{8}: install\(\) failed: RuntimeError: the weights server"
        " is unreachable$",
        bad.stdout,
        re.M,
    )
    assert "error: not installed on here: broken_install" in bad.stderr
    assert "Traceback" not in bad.stderr
    # Bad input: an unknown host.
    unknown = cli("prepare", "nowhere")
    assert unknown.returncode == 2 and "no host named nowhere" in unknown.stderr
