"""Preparing a host (``fleet.preparation``) on this machine: every catalogued family installed,
its install() run, and what came of each kept for the hosts page, a failing install() with its
reason, before anyone is assigned."""

import os
from pathlib import Path

import pytest
from sqlmodel import Session, select

from baselines.audit import AuditLog
from environments.catalogue import discover
from fleet import preparation, task_runs
from fleet.connections import Connections
from fleet.hosts import Host
from tests.hosts import ready_host
from tests.live_runs import PROBE_FAMILIES
from tests.naming import PREFIX
from timetracking.utc import utcnow

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="installs families as root")

BROKEN = Path(__file__).resolve().parent / "broken_families"


def _prepare(engine, catalogue) -> list[tuple[str, bool, str]]:
    connections = Connections(PREFIX)
    try:
        with Session(engine) as s:
            host = s.exec(select(Host)).one()
            rows = preparation.prepare(s, host, connections.driver(host), catalogue, None, utcnow())
            s.commit()
            return [(row.family, row.ok, row.summary) for row in rows]
    finally:
        connections.close()


def test_preparing_installs_every_family_and_says_which_install_failed(engine):
    ready_host(engine)
    catalogue = discover(os.pathsep.join([str(PROBE_FAMILIES), str(BROKEN)]))
    outcome = {family: (ok, summary) for family, ok, summary in _prepare(engine, catalogue)}
    assert set(outcome) == {"triton_cumsum", "probe", "broken_install"}
    probe = catalogue.family("probe")
    assert outcome["probe"] == (True, f"probe {probe.version[:8]}: installed")
    assert outcome["triton_cumsum"][0] is True
    broken = catalogue.family("broken_install")
    assert outcome["broken_install"] == (
        False,
        f"broken_install {broken.version[:8]}: install() failed:"
        " RuntimeError: the weights server is unreachable",
    )
    # On the host: the good ones complete, of their own groups; the broken one never complete.
    for family in (probe, catalogue.family("triton_cumsum")):
        target = task_runs.install_dir(family)
        assert os.path.isfile(f"{target}/.complete"), target
        assert Path(target).group() == task_runs.family_group(family)
    assert not os.path.exists(f"{task_runs.install_dir(broken)}/.complete")
    # A Start after it installs nothing again: the family is there, install() has run.
    complete = Path(task_runs.install_dir(probe)) / ".complete"
    before = complete.stat().st_mtime_ns
    connections = Connections(PREFIX)
    with Session(engine) as s:
        host = s.exec(select(Host)).one()
        launch = task_runs.launch_for(probe, probe.tasks[0], probe.tasks[0].meta)
        task_runs.install_for(connections.driver(host), host, launch)
    connections.close()
    assert complete.stat().st_mtime_ns == before
    # Preparing again keeps one outcome per family; a family no longer catalogued loses its.
    again = _prepare(engine, discover(str(PROBE_FAMILIES)))
    assert sorted(family for family, _, _ in again) == ["probe", "triton_cumsum"]
    with Session(engine) as s:
        rows = s.exec(select(preparation.HostFamily)).all()
        assert sorted(row.family for row in rows) == ["probe", "triton_cumsum"]
        audits = s.exec(
            select(AuditLog).where(AuditLog.action == "host.prepare").order_by(AuditLog.id)
        ).all()
        assert len(audits) == 2
        assert "install() failed" in str(audits[0].after["broken_install"])
