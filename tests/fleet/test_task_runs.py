"""Task families on a host over SSH: installed out of the expert's reach, started in a workspace,
scored as METR's protected scoring does, checked against their manifest (``env check``)."""

import json
import math
import shlex
import shutil
import sys
from pathlib import Path

import pytest

from environments.catalogue import discover
from environments.family_calls import call_local
from fleet import env_check, task_runs
from fleet.drivers.base import HostError
from fleet.hosts import DriverKind, Host
from fleet.task_runs import TaskLaunch
from tests.naming import PREFIX

FAMILIES = Path(__file__).resolve().parent / "families"
STRICT = Path(__file__).resolve().parents[1] / "environments" / "families"


def _family(folder: Path, name: str):
    return next(f for f in discover(str(folder)).families if f.name == name)


def _host(sshd, python: str = "") -> Host:
    return Host(
        name="ssh-test",
        driver=DriverKind.ssh,
        address=sshd.address,
        port=sshd.port,
        username=sshd.username,
        backend="process",
        settings={"python": python},
    )


def _as_user(driver, user: str, command: str):
    return driver.run(f"runuser -u {user} -- bash -c {shlex.quote(command)}", check=False)


@pytest.fixture
def probe_launch() -> TaskLaunch:
    return TaskLaunch(_family(FAMILIES, "probe"), "main", 0, True, ("reference/",))


@pytest.fixture
def probe_place(ssh_driver, sshd, probe_launch):
    host = _host(sshd)
    installed = task_runs.install(
        ssh_driver, host.username, probe_launch.family, leave_out=["reference/"],
        python="python3", task="main",
    )  # fmt: skip
    with env_check.scratch_place(ssh_driver, host, installed, probe_launch, [], PREFIX) as place:
        task_runs.start(place, installed, "main")
        yield place, installed


def test_the_workspace_user_cannot_read_the_family_or_its_scorer(
    ssh_driver, probe_place, probe_launch
):
    place, installed = probe_place
    for path in (
        installed.root,
        f"{installed.family_dir}/probe.py",
        f"{installed.family_dir}/secret.txt",
    ):
        result = _as_user(ssh_driver, place.user, f"cat {path} || ls {path}")
        assert result.exit_status != 0 and "Permission denied" in result.stderr, path
    # The reference solution never reaches the host; the rest is root's, of the family's group.
    assert ssh_driver.run(f"test -e {installed.family_dir}/reference", check=False).exit_status
    owner = ssh_driver.run(f"stat -c '%U:%G %a' {installed.family_dir}/probe.py").stdout.split()
    group = task_runs.family_group(probe_launch.family)
    assert owner == [f"root:{group}", "640"]
    # The task folder is the user's, with the instructions written into it.
    listing = _as_user(ssh_driver, place.user, "cat ~/solution.py ~/INSTRUCTIONS.md").stdout
    assert "return 0.25" in listing and "Make answer() in solution.py return 1." in listing


def _score_with(ssh_driver, place, installed, solution: str, **kwargs) -> task_runs.ScoreResult:
    _as_user(ssh_driver, place.user, f"printf %s {shlex.quote(solution)} > ~/solution.py")
    return task_runs.score(place, installed, "main", fresh_copy=True, **kwargs)


def test_scoring_outcomes(ssh_driver, probe_place):
    place, installed = probe_place
    started = ssh_driver.run("date +%s").stdout.strip()
    good = _score_with(ssh_driver, place, installed, "def answer():\n    return 1.0\n")
    assert (good.status, good.score, good.message) == ("scored", 1.0, {"answer": 1.0})
    # Scored on a fresh copy inside a folder the expert's user cannot enter, not the live one.
    assert good.details["home"].startswith(task_runs.SCORING)
    wrong = _score_with(ssh_driver, place, installed, "def answer():\n    return 'seven'\n")
    assert (wrong.status, wrong.score) == ("invalid", None)
    assert wrong.message == {"error": "not a number: 'seven'"}
    nan = _score_with(ssh_driver, place, installed, "def answer():\n    return float('nan')\n")
    assert nan.status == "invalid" and "not a number: nan" in nan.message["error"]
    crash = _score_with(
        ssh_driver, place, installed, "def answer():\n    raise RuntimeError('boom')\n"
    )
    assert crash.status == "error" and "RuntimeError: boom" in crash.message["error"]
    assert "Traceback" in crash.output
    oom = _score_with(ssh_driver, place, installed, "def answer():\n    raise MemoryError\n")
    assert oom.status == "oom" and "out of memory" in oom.message["error"]
    slow = _score_with(
        ssh_driver, place, installed, "import time\ndef answer():\n    time.sleep(60)\n", timeout=2
    )
    assert slow.status == "timeout" and "limit of 2 s" in slow.message["error"]
    assert slow.seconds < 30
    # Nothing of the scorings is left behind (other test sessions may be scoring beside this).
    assert not Path(good.details["home"]).parent.exists()
    # (A uid can come back with a new user: only what this test's scorings made counts.)
    mine = (
        f"find {task_runs.SCORING} -user {shlex.quote(place.user)} -newermt @{started}"
        " 2>/dev/null; true"
    )
    assert ssh_driver.run(mine).stdout.split() == []


# The expert's solution, scored: it tries each path and says which it could read. It runs as
# the workspace user with its own family's group (the probe drops to it, as families must).
SNOOP = """import os
TARGETS = {targets!r}
def answer():
    if os.geteuid() == 0:
        raise RuntimeError("scored as root")
    read = []
    for label, path in TARGETS.items():
        try:
            os.listdir(path) if os.path.isdir(path) else open(path).read()
            read.append(label)
        except OSError:
            pass
    with open({mine!r}, "w") as f:  # its own /tmp works
        f.write("mine")
    if read or open({mine!r}).read() != "mine":
        raise RuntimeError("read: " + ", ".join(read))
    return 1.0
"""


def test_the_experts_code_reads_no_other_family_nor_another_runs_scratch_or_tmp(
    ssh_driver, sshd, probe_place, probe_launch
):
    """While A is scored, its solution tries another installed family's files, the scratch
    folder of B's scoring under way (B runs the same family, so its scorer has the same group)
    and B's /tmp files: all refused. Its own family's scorer still scores it."""
    place, installed = probe_place
    host = _host(sshd)
    other = task_runs.install(
        ssh_driver, host.username, _family(STRICT, "count_words"), leave_out=[],
        python="python3", task="short",
    )  # fmt: skip
    assert other.gid != installed.gid
    with env_check.scratch_place(ssh_driver, host, installed, probe_launch, [], PREFIX) as b:
        task_runs.start(b, installed, "main")
        scratch_b = task_runs.scratch_home(b, installed.gid)  # B's scoring, under way
        tmp_b = f"/tmp/{b.user}-notes.txt"  # a file B's terminal left in the shared /tmp
        mine = f"/tmp/{place.user}-mine.txt"  # what A's solution writes to its own /tmp
        _as_user(ssh_driver, b.user, f"echo B > {tmp_b} && chmod 644 {tmp_b}")
        ssh_driver.run(
            f"echo B > {scratch_b}/tmp/result.json && chown {b.user}: {scratch_b}/tmp/result.json"
        )
        targets = {
            "another family's folder": other.root,
            "another family's scorer": f"{other.family_dir}/count_words.py",
            "the scratch folders": task_runs.SCORING,
            "another run's scratch folder": scratch_b,
            "another run's scoring copy": f"{scratch_b}/home/solution.py",
            "another run's scoring /tmp": f"{scratch_b}/tmp/result.json",
            "another run's /tmp file": tmp_b,
        }
        try:
            for path in targets.values():  # each is there, for root to see
                assert ssh_driver.run(f"test -e {path}", check=False).exit_status == 0, path
            # Outside scoring, A's user reads B's /tmp file: only the private /tmp hides it.
            assert _as_user(ssh_driver, place.user, f"cat {tmp_b}").stdout.strip() == "B"
            snoop = SNOOP.format(targets=targets, mine=mine)
            result = _score_with(ssh_driver, place, installed, snoop)
        finally:
            ssh_driver.run(f"rm -rf {scratch_b} {tmp_b}")
    assert (result.status, result.score) == ("scored", 1.0), result.message
    # A's private /tmp went with its scratch folder; the shared /tmp never saw it.
    assert ssh_driver.run(f"test -e {mine}", check=False).exit_status != 0


def test_env_check_scores_start_and_reference_and_catches_drift(ssh_driver, sshd, probe_launch):
    host = _host(sshd)
    report = env_check.check(
        ssh_driver,
        host,
        probe_launch,
        y_s=0.25,
        y_r=1.0,
        reference="reference/",
        gpus=[],
        prefix=PREFIX,
    )
    assert report.ok, report
    assert [(line.label, line.result.score, line.normalised) for line in report.lines] == [
        ("starting solution", 0.25, 0.0),
        ("reference solution", 1.0, 1.0),
    ]
    drifted = env_check.check(
        ssh_driver,
        host,
        probe_launch,
        y_s=0.5,
        y_r=1.0,
        reference="reference/",
        gpus=[],
        prefix=PREFIX,
    )
    assert not drifted.ok
    assert "drifted" in drifted.lines[0].problem and "tolerance" in drifted.lines[0].problem
    # The scratch users are gone.
    users = ssh_driver.run("getent passwd | cut -d: -f1").stdout.split()
    assert not [u for u in users if u.startswith(f"{PREFIX}-check-")]


def test_an_unmodified_metr_family_starts_scores_and_aggregates(ssh_driver, sshd):
    """count_words names /home/agent and the user agent, as METR's standard does, and has no
    baseliner: key; on a process host it gets that user for itself."""
    family = _family(STRICT, "count_words")
    assert family.tasks[0].meta is None
    launch = TaskLaunch(family, "short", 0, False)
    report = env_check.check(
        ssh_driver,
        _host(sshd),
        launch,
        y_s=None,
        y_r=None,
        reference=None,
        gpus=[],
        prefix=PREFIX,
    )
    assert report.ok, report
    (line,) = report.lines
    assert (line.result.status, line.result.score, line.normalised) == ("scored", 0.0, None)
    assert "y_r is not checked" in report.notes[0]
    assert ssh_driver.run("id -u agent", check=False).exit_status != 0  # removed afterwards
    log = json.dumps([{"score": 0.0}, {"score": 0.75}, {"score": None}])
    assert call_local(family.path, "short", "aggregate", stdin=log) == 0.75


def test_triton_cumsum_checks_on_the_cpu(ssh_driver, sshd):
    """The kernel environment on a GPU-less host, with the platform's Python (PyTorch, Triton's
    interpreter): both solutions score, marked not comparable, so drift is not judged."""
    family = _family(Path(__file__).resolve().parents[2] / "environments", "triton_cumsum")
    launch = TaskLaunch(family, "main", 1, True, ("reference/",))
    host = _host(sshd, python=sys.executable)
    report = env_check.check(
        ssh_driver,
        host,
        launch,
        y_s=1.631,
        y_r=-1.011,
        reference="reference/",
        gpus=[],
        prefix=PREFIX,
    )
    assert report.ok, [line.problem for line in report.lines]
    for line in report.lines:
        assert line.result.valid and not line.result.comparable
        assert math.isfinite(line.result.score)
        assert "not comparable: no GPU" in line.result.message["note"]
    assert report.lines[1].result.details["triton_interpreter"] is True
    assert "not comparable" in report.notes[-1]


def test_the_experts_code_is_never_scored_as_root(ssh_driver, sshd):
    """The platform scores as root (METR's contract); triton_cumsum's scorer runs the solution as
    the workspace user, with its family's own group added so it can read the scorer."""
    family = _family(Path(__file__).resolve().parents[2] / "environments", "triton_cumsum")
    launch = TaskLaunch(family, "main", 1, True, ("reference/",))
    host = _host(sshd, python=sys.executable)
    installed = task_runs.install(
        ssh_driver, host.username, family, leave_out=["reference/"], python=sys.executable,
        task="main",
    )  # fmt: skip
    start = (family.path / "assets" / "solution" / "solution.py").read_text()
    check = "import os\nif os.geteuid() == 0:\n    raise SystemExit('scored as root')\n"
    with env_check.scratch_place(ssh_driver, host, installed, launch, [], PREFIX) as place:
        task_runs.start(place, installed, "main")
        _as_user(
            ssh_driver,
            place.user,
            f"printf %s {shlex.quote(check + start)} > ~/solution/solution.py",
        )
        result = task_runs.score(place, installed, "main", fresh_copy=True)
    assert result.status == "scored", result.message


# --- the container runtime: each run its own container, root inside it for the family ----------


@pytest.fixture
def container_host(ssh_driver, sshd) -> Host:
    from tests.container_image import ensure_image, sweep_containers

    image = ensure_image()
    sweep_containers()
    host = _host(sshd)
    host.backend, host.settings = "container", {"image": image}
    yield host
    sweep_containers()


def test_families_run_in_a_container(ssh_driver, container_host, probe_launch):
    """In a container the user agent and /home/agent are the run's own, so the METR-format family
    runs unmodified beside Baseliner's $HOME-based one."""
    report = env_check.check(
        ssh_driver, container_host, probe_launch, y_s=0.25, y_r=1.0, reference="reference/",
        gpus=[], prefix=PREFIX,
    )  # fmt: skip
    assert report.ok, [line.problem for line in report.lines]
    assert [line.result.score for line in report.lines] == [0.25, 1.0]
    family = _family(STRICT, "count_words")
    strict = env_check.check(
        ssh_driver, container_host, TaskLaunch(family, "long", 0, False), y_s=0.0, y_r=1.0,
        reference=None, gpus=[], prefix=PREFIX,
    )  # fmt: skip
    assert strict.ok, [line.problem for line in strict.lines]
    assert strict.lines[0].result.score == 0.0
    names = ssh_driver.run("podman ps -a --format '{{.Names}}'").stdout.split()
    assert not [n for n in names if n.startswith(f"{PREFIX}-check-")]


def _recipe_family(tmp_path: Path, recipe: str) -> TaskLaunch:
    """The probe family whose reference is a recipe (it writes the solution when run), with a
    link to a shared folder and a dot-folder of things built at run time."""
    folder = tmp_path / "families" / "probe"
    shutil.copytree(FAMILIES / "probe", folder)
    (folder / "reference" / "solution.py").unlink()
    (folder / "reference" / "recipe.py").write_text(recipe)
    shared = tmp_path / "families" / "_shared" / "kit"
    shared.mkdir(parents=True)
    (shared / "kit.txt").write_text("shared\n")
    (folder / "kit").symlink_to("../_shared/kit")
    (folder / ".build").mkdir()
    (folder / ".build" / "built.txt").write_text("made here\n")
    return TaskLaunch(_family(folder.parent, "probe"), "main", 0, True, ("reference/",))


def test_env_check_runs_a_reference_recipe_as_the_workspace_user(ssh_driver, sshd, tmp_path):
    recipe = (
        "import getpass, pathlib\n"
        "pathlib.Path('solution.py').write_text('def answer():\\n    return 1.0\\n')\n"
        "print('trained as', getpass.getuser())\n"
    )
    launch = _recipe_family(tmp_path, recipe)
    host = _host(sshd)
    report = env_check.check(
        ssh_driver, host, launch, y_s=0.25, y_r=1.0, reference="reference/", gpus=[],
        prefix=PREFIX, reference_command="python3 recipe.py",
    )  # fmt: skip
    assert report.ok, [line.problem for line in report.lines]
    assert [line.result.score for line in report.lines] == [0.25, 1.0]
    assert any("python3 recipe.py` ran in" in note for note in report.notes)
    # Installed: what the link holds, not the dot-folder; never the reference.
    installed = task_runs.install_dir(launch.family)
    listing = ssh_driver.run(f"cd {installed}/probe && find . | sort").stdout.split()
    assert "./kit/kit.txt" in listing
    assert not [p for p in listing if p.startswith(("./.build", "./reference"))]


def test_a_failing_reference_recipe_says_so_with_its_output(ssh_driver, sshd, tmp_path):
    launch = _recipe_family(tmp_path, "import sys\nprint('out of ideas')\nsys.exit(3)\n")
    with pytest.raises(HostError) as caught:
        env_check.check(
            ssh_driver, _host(sshd), launch, y_s=0.25, y_r=1.0, reference="reference/",
            gpus=[], prefix=PREFIX, reference_command="python3 recipe.py",
        )  # fmt: skip
    assert "`python3 recipe.py` failed (exit status 3" in str(caught.value)
    assert "out of ideas" in str(caught.value)
    users = ssh_driver.run("getent passwd | cut -d: -f1").stdout.split()
    assert not [u for u in users if u.startswith(f"{PREFIX}-check-")]


@pytest.mark.parametrize("name", ["fix_embedding", "restricted_mlm", "scaling_law"])
def test_language_model_families_check_on_the_cpu(ssh_driver, sshd, name):
    """Each RE-Bench analogue on a GPU-less host, as `baseliner env check` runs it: installed
    (its install() builds tiny models from the shared corpus), started, its starting solution
    scored, its reference recipe run as the workspace user, the result scored; both valid, not
    comparable, and the reference better than the start."""
    family = _family(Path(__file__).resolve().parents[2] / "environments", name)
    task = family.task("main")
    meta = task.meta
    launch = task_runs.launch_for(family, task, meta)
    report = env_check.check(
        ssh_driver, _host(sshd, python=task_runs.platform_python()), launch,
        y_s=meta.y_s, y_r=meta.y_r, reference=meta.reference, gpus=[], prefix=PREFIX,
        reference_command=meta.reference_command, reference_limit_s=600,
    )  # fmt: skip
    assert report.ok, [(line.result.message, line.result.output[-800:]) for line in report.lines]
    start, reference = (line.result for line in report.lines)
    for result in (start, reference):
        assert result.valid and not result.comparable, result.message
        assert "not comparable: no GPU" in result.message["note"]
    if meta.direction == "lower":
        assert reference.score < start.score
    else:
        assert reference.score > start.score
