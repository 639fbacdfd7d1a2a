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

pytestmark = [
    pytest.mark.host,
    pytest.mark.skipif(os.geteuid() != 0, reason="installs families as root"),
]

BROKEN = Path(__file__).resolve().parent / "broken_families"
BUILT_IN = {family.name for family in discover().families}  # the repository's environments


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
    assert set(outcome) == BUILT_IN | {"probe", "broken_install"}
    assert all(outcome[name][0] for name in BUILT_IN), outcome  # CPU builds of the LM families
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
        task_runs.install_for(connections.backend(host), launch)
    connections.close()
    assert complete.stat().st_mtime_ns == before
    # Preparing again keeps one outcome per family; a family no longer catalogued loses its.
    again = _prepare(engine, discover(str(PROBE_FAMILIES)))
    assert {family for family, _, _ in again} == BUILT_IN | {"probe"}
    with Session(engine) as s:
        rows = s.exec(select(preparation.HostFamily)).all()
        assert {row.family for row in rows} == BUILT_IN | {"probe"}
        audits = s.exec(
            select(AuditLog).where(AuditLog.action == "host.prepare").order_by(AuditLog.id)
        ).all()
        assert len(audits) == 2
        assert "install() failed" in str(audits[0].after["broken_install"])


def test_a_background_prepare_shows_each_family_pending_until_its_outcome(engine):
    """What the hosts page's Prepare does: begin marks every family installing, prepare with
    commit_each settles them one by one (another session sees them before the caller commits),
    and a Prepare that cannot go on leaves the families still pending saying why."""
    ready_host(engine)
    catalogue = discover(os.pathsep.join([str(PROBE_FAMILIES), str(BROKEN)]))
    with Session(engine) as s:
        host = s.exec(select(Host)).one()
        rows = preparation.begin(s, host, catalogue, utcnow())
        s.commit()
        assert {row.family for row in rows} == BUILT_IN | {"probe", "broken_install"}
        assert all(row.summary.endswith(": installing…") for row in rows)
        assert preparation.preparing(s, host.id)
    connections = Connections(PREFIX)
    try:
        with Session(engine) as s:
            host = s.exec(select(Host)).one()
            preparation.prepare(
                s, host, connections.driver(host), catalogue, None, utcnow(), commit_each=True
            )
            with Session(engine) as other:  # each outcome was committed as it came
                assert not preparation.preparing(other, host.id)
                outcome = {row.family: row.ok for row in preparation.for_host(other, host.id)}
            s.commit()
    finally:
        connections.close()
    assert outcome == {name: True for name in BUILT_IN} | {"probe": True, "broken_install": False}
    # A Prepare cut off (the host stopped answering): the families left pending say why.
    with Session(engine) as s:
        host = s.exec(select(Host)).one()
        preparation.begin(s, host, catalogue, utcnow())
        s.commit()
        preparation.abandon(s, host.id, "not installed: local did not answer: timed out", utcnow())
        s.commit()
        rows = preparation.for_host(s, host.id)
    assert not any(row.pending for row in rows)
    assert {row.summary.split(": ", 1)[1] for row in rows} == {
        "not installed: local did not answer: timed out"
    }
