"""GPUs and ports are leased per machine: two host records naming one machine (both local, or
one sshd by two spellings of its address) never hand out the same GPU, port or user ``agent``,
also when two starts race; real starts on both records get different ports."""

import os
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from baselines.runs import Lease, Run, RunStatus
from baselines.users import Role
from fleet import allocation, env_check, health, hosts
from fleet.connections import Connections
from fleet.drivers.base import HostError
from fleet.hosts import Host, HostCreate, HostStatus
from fleet.machines import machine, machine_key
from tests.naming import PREFIX, workspace
from timetracking.utc import utcnow
from webapp.workspace_jobs import WorkspaceJobs

H100 = {"name": "H100", "memory_mb": 81559}


def _host(engine, name: str, *, gpus: int = 0, **fields) -> Host:
    """A ready host record (not checked: placement reads only the database)."""
    fields.setdefault("driver", "local")
    key = ""
    if fields["driver"] == "ssh":
        fields.setdefault("key_path", "/nonexistent/key")
        key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBmxyFyWwlW1PDEaAJmhX5zWb0tXEKBnU9bh1ELLuYdI"
    with Session(engine) as s:
        host = hosts.add(s, HostCreate(name=name, **fields), key, None, utcnow())
        host.status, host.status_reason = HostStatus.ready, "ok"
        host.gpus = [{"index": i, **H100} for i in range(gpus)]
        s.add(host)
        s.commit()
        s.refresh(host)
        s.expunge(host)
        return host


def _new_run(engine, make_user) -> int:
    expert = make_user(Role.expert)
    with Session(engine) as s:
        run = Run(expert_id=expert.id, environment="demo/main", created_at=utcnow())
        s.add(run)
        s.commit()
        return run.id


def _place(engine, run_id: int, gpus: int = 0, **kwargs) -> allocation.Placement:
    with Session(engine) as s:
        placement = allocation.place(s, s.get(Run, run_id), gpus, **kwargs)
        s.refresh(placement.host)
        s.expunge(placement.host)
        return placement


def test_one_machine_has_one_key_however_it_is_spelled():
    assert machine_key("local", "", 22) == "local"
    assert machine_key("local", "gpu1.example.org", 2222) == "local"  # the driver decides
    same = {
        machine_key("ssh", address, 2201)
        for address in ("GPU1.Example.org", "gpu1.example.org.", " gpu1.example.org ")
    }
    assert same == {"gpu1.example.org:2201"}
    assert machine_key("ssh", "gpu1.example.org", 2202) == "gpu1.example.org:2202"
    loopback = {machine_key("ssh", a, 22) for a in ("localhost", "127.0.0.1", "::ffff:127.0.0.1")}
    assert loopback == {"127.0.0.1:22"}
    assert machine_key("ssh", "[::1]", 22) == machine_key("ssh", "0:0::0:1", 22) == "[::1]:22"


def test_two_local_records_never_share_a_port_or_gpu(engine, make_user):
    first = _host(engine, "box-a", gpus=2)
    second = _host(engine, "box-b", gpus=2)
    assert machine(first) == machine(second) == "local"
    runs = [_new_run(engine, make_user) for _ in range(3)]
    a, b = _place(engine, runs[0], 1), _place(engine, runs[1], 1)
    assert {a.host.id, b.host.id} <= {first.id, second.id}
    assert a.port != b.port
    assert sorted(a.gpus + b.gpus) == [0, 1]  # GPU 0 of one record is GPU 0 of the other
    # Both records list two GPUs, but the machine has only two: nothing is left for a third run.
    with pytest.raises(allocation.NoCapacity):
        _place(engine, runs[2], 1)
    with Session(engine) as s:
        assert s.get(Run, runs[2]).host_id is None
        assert s.exec(select(Lease).where(Lease.run_id == runs[2])).all() == []


def test_a_run_placed_on_one_record_takes_nothing_the_other_holds(engine, make_user):
    """Whichever record a run lands on, the GPUs and ports of the other's runs stay theirs."""
    first = _host(engine, "box-a", gpus=4)
    held = _place(engine, _new_run(engine, make_user), 2)
    assert held.host.id == first.id
    _host(engine, "box-b", gpus=4)
    with Session(engine) as s:
        s.exec(select(Host).where(Host.name == "box-a")).one().draining = True
        s.commit()
    placed = _place(engine, _new_run(engine, make_user), 2)
    assert placed.host.name == "box-b"
    assert set(placed.gpus).isdisjoint(held.gpus) and placed.port != held.port


def test_two_ssh_records_for_one_sshd_share_its_leases(engine, make_user):
    one = _host(engine, "sshd-a", driver="ssh", address="127.0.0.1", port=2299, gpus=1)
    other = _host(engine, "sshd-b", driver="ssh", address="LOCALHOST", port=2299, gpus=1)
    elsewhere = _host(engine, "sshd-c", driver="ssh", address="127.0.0.1", port=2300, gpus=1)
    assert machine(one) == machine(other) != machine(elsewhere)
    runs = [_new_run(engine, make_user) for _ in range(3)]
    placements = [_place(engine, run_id, 1) for run_id in runs[:2]]
    # GPU 0 once per machine: one run on the sshd both records name, one on the other sshd.
    assert {machine(p.host) for p in placements} == {machine(one), machine(elsewhere)}
    with pytest.raises(allocation.NoCapacity):
        _place(engine, runs[2], 1)


def test_env_check_counts_gpus_the_other_record_holds(engine, make_user):
    _host(engine, "box-a", gpus=2)
    held = _place(engine, _new_run(engine, make_user), 1)
    second = _host(engine, "box-b", gpus=2)
    with Session(engine) as s:
        free = env_check.free_gpus(s, s.get(Host, second.id), 1)
        assert free and free[0] not in held.gpus
        with pytest.raises(HostError, match="1 free GPU"):
            env_check.free_gpus(s, s.get(Host, second.id), 2)


def test_the_user_agent_is_one_per_machine(engine, make_user):
    _host(engine, "box-a")
    _host(engine, "box-b")
    first = _place(engine, _new_run(engine, make_user), agent_user=True)
    assert first.host.name in ("box-a", "box-b")
    with pytest.raises(allocation.NoCapacity):
        _place(engine, _new_run(engine, make_user), agent_user=True)


def test_the_database_refuses_one_port_for_two_records_of_a_machine(engine, make_user):
    first, second = _host(engine, "box-a"), _host(engine, "box-b")
    runs = [_new_run(engine, make_user) for _ in range(2)]
    with Session(engine) as s:
        s.add(Lease(host_id=first.id, machine="local", kind="port", value=20000, run_id=runs[0]))
        s.commit()
        s.add(Lease(host_id=second.id, machine="local", kind="port", value=20000, run_id=runs[1]))
        with pytest.raises(IntegrityError):
            s.commit()


def test_a_start_that_loses_the_race_for_a_port_takes_the_next(engine, make_user):
    """Another process commits port P through the other record between this start's look at the
    leases and its insert: the insert fails on the unique key and the start picks again."""
    first, second = _host(engine, "box-a"), _host(engine, "box-b")
    rival, run_id = _new_run(engine, make_user), _new_run(engine, make_user)
    raced: list[int] = []

    def rival_wins(host: Host) -> set[int]:
        if not raced:  # once: the rival takes the port this start is about to choose
            with Session(engine) as s:
                taken = allocation.leased(s, host, "port")
                port = next(p for p in allocation.PORTS if p not in taken)
                other = second if host.id == first.id else first
                s.add(
                    Lease(host_id=other.id, machine="local", kind="port", value=port, run_id=rival)
                )
                s.commit()
                raced.append(port)
        return set()

    placement = _place(engine, run_id, in_use=rival_wins)
    assert raced and placement.port != raced[0]
    with Session(engine) as s:
        ports = s.exec(select(Lease.value).where(Lease.kind == "port")).all()
        assert sorted(ports) == sorted([raced[0], placement.port])


def test_a_port_something_listens_on_is_never_leased(engine, make_user):
    _host(engine, "box-a")
    run_id = _new_run(engine, make_user)
    busy = set(range(20000, 20005))
    placement = _place(engine, run_id, in_use=lambda host: busy)
    assert placement.port == 20005


def test_a_host_that_cannot_say_which_ports_are_free_leases_nothing(engine, make_user):
    _host(engine, "box-a")
    run_id = _new_run(engine, make_user)

    def unreachable(host: Host) -> set[int]:
        raise HostError("connection refused")

    with pytest.raises(HostError):
        _place(engine, run_id, in_use=unreachable)
    with Session(engine) as s:
        assert s.exec(select(Lease).where(Lease.run_id == run_id)).all() == []


@pytest.mark.skipif(os.geteuid() != 0, reason="workspaces create unix users")
@pytest.mark.parametrize("kind", ["local", "ssh"])
def test_real_starts_on_two_records_of_one_machine(kind, engine, make_user, tmp_path, request):
    """Two records for this machine (both local, or one sshd as 127.0.0.1 and as localhost):
    a real workspace on each, on different ports, both IDEs up."""
    if kind == "ssh":
        sshd = request.getfixturevalue("sshd")
        records = [
            HostCreate(
                name=f"sshd-{n}",
                driver="ssh",
                address=address,
                port=sshd.port,
                username=sshd.username,
                key_path=str(sshd.key_path),
            )
            for n, address in (("a", sshd.address), ("b", "localhost"))
        ]
        key = sshd.host_key_line
    else:
        records = [HostCreate(name=f"local-{n}", driver="local") for n in ("a", "b")]
        key = ""
    connections = Connections(PREFIX)
    with Session(engine) as s:
        for data in records:
            host = hosts.add(s, data, key, None, utcnow())
            s.commit()
            health.check(s, host, connections, utcnow())
            assert host.status == HostStatus.ready, host.status_reason
    connections.close()
    jobs = WorkspaceJobs(engine, tmp_path / "data", PREFIX)
    runs = [_new_run(engine, make_user) for _ in range(2)]
    try:
        # Each start on its own record: the second is steered to the other one.
        with Session(engine) as s:
            names = [h.name for h in s.exec(select(Host).order_by(Host.name))]
        for run_id, name in zip(runs, names, strict=True):
            with Session(engine) as s:
                for host in s.exec(select(Host)):
                    host.draining = host.name != name
                    s.add(host)
                s.commit()
            files = tmp_path / f"files-{run_id}"  # the job removes it once copied
            files.mkdir()
            (files / "README.md").write_text("# the task\n")
            jobs.start(run_id, files=files)
            jobs.wait(run_id, timeout=90)
        with Session(engine) as s:
            started = [s.get(Run, run_id) for run_id in runs]
            assert [r.status for r in started] == [RunStatus.active] * 2, [
                r.status_reason for r in started
            ]
            assert started[0].host_id != started[1].host_id
            assert started[0].port != started[1].port
            machines = set(s.exec(select(Lease.machine).where(Lease.run_id.in_(runs))))
            assert len(machines) == 1
    finally:
        for run_id in runs:
            jobs.stop(run_id)
            jobs.wait(run_id, timeout=60)
        jobs.close()
    assert not any(Path(f"/home/{workspace(run_id)}").exists() for run_id in runs)
