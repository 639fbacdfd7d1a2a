"""A sandboxed judge of Rust programs: compile with the machine's rustc, run each test, compare.

The scorer runs as root, so the expert's program (and the compiler reading its source) must never
run as root nor see anything but its own scratch. Each step is ``prlimit`` (limits, inherited by
all below) -> ``unshare --pid --fork --mount --mount-proc`` (a pid namespace whose pid 1 is bwrap,
so its end kills everything in it) -> bubblewrap as root (new mount, net, ipc, uts and cgroup
namespaces, ``--die-with-parent``, ``--clearenv``) -> ``setpriv`` to an unprivileged uid of the
step's own (65000-65499 in turn; no capabilities, no_new_privs) -> the compiler or the program:

- compile: ``rustc --edition 2021 -O``, std only (no ``--extern``, no crates), statically linked
  (``crt-static``) so the program needs no library at run time; it sees read-only ``/usr`` (gcc,
  the linker, libc.a), the toolchain's sysroot at ``/rustc``, its source at ``/src/main.rs`` and
  an output folder; no ``/etc``, no ``/root``, no network. 30 s CPU, 60 s wall, 2 GiB of address
  space, 64 MiB per file, 256 MiB of ``/tmp``. The compiler's output is capped.
- run: the binary (read-only) at ``/sandbox/main`` and ``setpriv`` with its libraries are all it
  sees, with its own /proc and a minimal /dev; cwd ``/work`` is an empty tmpfs of 16 MiB; stdin
  is the test's input, stdout and stderr are files on the host capped by ``RLIMIT_FSIZE`` (16
  MiB). CPU ``time_limit_s`` (RLIMIT_CPU in whole seconds, then the measured CPU time of the whole
  process tree), wall 3x that, address space ``memory_mb``, 4 processes or threads (the uid is
  the run's own, so the count is its own), 16 open files, no core files, and a seccomp filter
  (x86_64) refusing namespaces, mounts, memfd, SysV shared memory and queues, io_uring, ptrace.

Output is compared exactly, with trailing whitespace forgiven on each line and trailing blank
lines forgiven. The first failing test (1-based) gives the verdict. Details never quote the
program's output or the test's data: they are shown to the expert and the tests are hidden.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import os
import platform
import random
import shutil
import signal
import struct
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Status = Literal[
    "accepted",
    "compile_error",
    "wrong_answer",
    "timeout",
    "runtime_error",
    "memory",
    "output_limit",
    "judge_error",
]

EDITION = "2021"
MAX_SOURCE_BYTES = 512 * 1024
COMPILE_CPU_S = 30
COMPILE_WALL_S = 60
COMPILE_MEMORY = 2 * 1024**3
COMPILE_FILE_SIZE = 64 * 1024**2
COMPILE_TMP = 256 * 1024**2
COMPILER_OUTPUT_CAP = 16 * 1024
OUTPUT_CAP = 16 * 1024**2
RUN_TMP = 16 * 1024**2
RUN_STACK = 64 * 1024**2
RUN_NPROC = 4  # threads count too: a fork bomb holds at most 4 x memory_mb
RUN_NOFILE = 16
WALL_FACTOR = 3.0
# Debian reserves 65000-65533 (allocated to nothing) and container uid maps usually cover it:
# each sandbox takes the next uid in turn so one program's processes never count against
# another's RLIMIT_NPROC, nor can one signal another.
UID_RANGE = range(65000, 65500)
_uid_turns = itertools.count(random.randrange(len(UID_RANGE)))
_uid_lock = threading.Lock()
_uids_held: set[int] = set()

NAMESPACES = [
    "--unshare-ipc",
    "--unshare-net",
    "--unshare-uts",
    "--unshare-cgroup-try",
    "--die-with-parent",
    "--new-session",
    "--clearenv",
]

# The program's syscalls that could reach past its limits: a user namespace (then a tmpfs of any
# size), mounts, memory that RLIMIT_AS does not count (memfd, SysV shared memory and queues),
# io_uring, userfaultfd, ptrace, bpf, perf and keyrings. clone3 answers ENOSYS, so libc falls back
# to clone, whose namespace flags are refused. x86_64 numbers; elsewhere no filter is installed.
_X86_64_DENIED = {
    "ptrace": 101, "pivot_root": 155, "chroot": 161, "mount": 165, "umount2": 166,
    "add_key": 248, "request_key": 249, "keyctl": 250, "unshare": 272, "perf_event_open": 298,
    "setns": 308, "process_vm_readv": 310, "process_vm_writev": 311, "memfd_create": 319,
    "bpf": 321, "userfaultfd": 323, "io_uring_setup": 425, "io_uring_enter": 426,
    "io_uring_register": 427, "open_tree": 428, "move_mount": 429, "fsopen": 430,
    "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442, "memfd_secret": 447,
    "shmget": 29, "msgget": 68,
}  # fmt: skip
_CLONE, _CLONE3 = 56, 435
_CLONE_NEW_FLAGS = 0x7E020000  # NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET


def seccomp_filter() -> bytes | None:
    """The run sandbox's seccomp filter as classic BPF for ``bwrap --seccomp``; None off x86_64."""
    if platform.machine() != "x86_64":
        return None
    load, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    allow, kill = 0x7FFF0000, 0x80000000
    eperm, enosys = 0x00050000 | 1, 0x00050000 | 38
    program = [
        (load, 0, 0, 4),  # arch
        (jeq, 1, 0, 0xC000003E),  # AUDIT_ARCH_X86_64
        (ret, 0, 0, kill),
        (load, 0, 0, 0),  # syscall number
        (jge, 0, 1, 0x40000000),  # the x32 ABI
        (ret, 0, 0, eperm),
        (jeq, 0, 1, _CLONE3),
        (ret, 0, 0, enosys),
    ]
    for number in sorted(_X86_64_DENIED.values()):
        program += [(jeq, 0, 1, number), (ret, 0, 0, eperm)]
    program += [
        (jeq, 0, 3, _CLONE),
        (load, 0, 0, 16),  # clone's flags (low 32 bits of args[0])
        (jset, 0, 1, _CLONE_NEW_FLAGS),
        (ret, 0, 0, eperm),
        (ret, 0, 0, allow),
    ]
    return b"".join(struct.pack("<HBBI", *instruction) for instruction in program)


PHRASES = {
    "timeout": "time limit exceeded",
    "memory": "memory limit exceeded",
    "output_limit": "output limit exceeded",
    "runtime_error": "runtime error",
}


@dataclass(frozen=True)
class Verdict:
    """What the judge says of one program: ``test`` is the 1-based failing test, if any."""

    status: Status
    test: int | None
    detail: str
    seconds: float


@dataclass(frozen=True)
class Toolchain:
    """The tools the judge runs, resolved once: the real rustc (not rustup's proxy)."""

    rustc: Path
    sysroot: Path
    version: str
    linker: Path
    bwrap: Path
    prlimit: Path
    setpriv: Path
    unshare: Path
    setpriv_files: tuple[Path, ...]


class SandboxUnavailable(RuntimeError):
    """The machine lacks something the sandbox needs; the message says what."""


def _take_uid() -> int:
    """The next uid of the range that no sandbox of this process holds (a sandbox whose uid
    already has processes could not even exec under its RLIMIT_NPROC)."""
    with _uid_lock:
        for _ in range(len(UID_RANGE)):
            uid = UID_RANGE[next(_uid_turns) % len(UID_RANGE)]
            if uid not in _uids_held:
                _uids_held.add(uid)
                return uid
    raise SandboxUnavailable(f"all {len(UID_RANGE)} sandbox uids are in use")


def _give_back_uid(uid: int) -> None:
    with _uid_lock:
        _uids_held.discard(uid)


def _rustup_env(rustc: Path) -> dict[str, str]:
    """rustup's proxy in ``~/.cargo/bin`` finds its toolchains through CARGO_HOME/RUSTUP_HOME."""
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")}
    for name in ("RUSTUP_HOME", "CARGO_HOME", "RUSTUP_TOOLCHAIN"):
        if name in os.environ:
            env[name] = os.environ[name]
    cargo = rustc.parent.parent
    if rustc.parent.name == "bin" and cargo.name == ".cargo":
        env.setdefault("CARGO_HOME", str(cargo))
        if (cargo.parent / ".rustup").is_dir():
            env.setdefault("RUSTUP_HOME", str(cargo.parent / ".rustup"))
    return env


def _find_rustc() -> Path:
    # Debian's (scripts/install.sh) first: the one the workspaces have, so the expert's tries
    # and the judge compile alike.
    candidates = [os.environ.get("BASELINER_RUSTC"), shutil.which("rustc", path="/usr/bin")]
    candidates.append(shutil.which("rustc"))
    candidates += [str(Path.home() / ".cargo/bin/rustc"), "/root/.cargo/bin/rustc"]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return Path(candidate)
    raise SandboxUnavailable("no rustc: not on PATH, nor in ~/.cargo/bin (install Rust)")


def _library_files(ldd: Path, binary: Path) -> tuple[Path, ...]:
    """The shared libraries ``binary`` loads (and the loader), as ldd names them."""
    try:
        listing = subprocess.run(
            [str(ldd), str(binary)], capture_output=True, text=True, check=True, timeout=60
        )
    except (OSError, subprocess.SubprocessError) as error:
        raise SandboxUnavailable(f"ldd cannot list {binary}'s libraries: {error}") from error
    files = []
    for line in listing.stdout.splitlines():
        for word in line.split():
            if word.startswith("/"):
                files.append(Path(word))
    return tuple(dict.fromkeys(files))


@functools.cache
def toolchain() -> Toolchain:
    """Resolve rustc, the linker and the sandbox's tools, or raise ``SandboxUnavailable``."""
    if os.geteuid() != 0:
        raise SandboxUnavailable("the judge must run as root to drop programs to their own uid")
    tools = {}
    for name in ("bwrap", "prlimit", "setpriv", "unshare", "ldd"):
        found = shutil.which(name, path="/usr/bin:/bin:/usr/sbin:/sbin")
        if not found:
            package = {"bwrap": "bubblewrap", "ldd": "libc-bin"}.get(name, "util-linux")
            raise SandboxUnavailable(f"no {name} (install the Debian package {package})")
        tools[name] = Path(found)
    cc = shutil.which("cc", path="/usr/bin:/bin")
    if not cc:
        raise SandboxUnavailable("no C linker `cc` (install the Debian package gcc)")
    linker = Path(os.path.realpath(cc))
    if not str(linker).startswith("/usr/"):
        raise SandboxUnavailable(f"the linker {linker} is outside /usr, which the compiler sees")
    proxy = _find_rustc()
    env = _rustup_env(proxy)
    try:
        sysroot = Path(_check_output([str(proxy), "--print", "sysroot"], env).strip())
        rustc = sysroot / "bin" / "rustc"
        version = _check_output([str(rustc), "--version"], env).strip()
    except (OSError, subprocess.SubprocessError) as error:
        raise SandboxUnavailable(f"rustc at {proxy} does not answer: {error}") from error
    return Toolchain(
        rustc=rustc,
        sysroot=sysroot,
        version=version,
        linker=linker,
        bwrap=tools["bwrap"],
        prlimit=tools["prlimit"],
        setpriv=tools["setpriv"],
        unshare=tools["unshare"],
        setpriv_files=_library_files(tools["ldd"], tools["setpriv"]),
    )


def _check_output(argv: list[str], env: dict[str, str]) -> str:
    return subprocess.run(
        argv, capture_output=True, text=True, check=True, env=env, timeout=60
    ).stdout


def _outer_namespace(tools: Toolchain) -> list[str]:
    """The sandbox's pid namespace, with bwrap as its pid 1 and a /proc of its own (which bwrap's
    ``--proc`` binds). Not ``bwrap --unshare-pid``: that bwrap returns as soon as its command
    ends, while its own pid 1 (not our child) still tears the sandbox down and takes the
    program's CPU time with it. Here bwrap reaps the program, its exit empties the namespace
    before unshare returns, and the CPU time reaches our ``wait4``."""
    return [str(tools.unshare), "--pid", "--fork", "--kill-child", "--mount", "--mount-proc", "--"]


def _system_folders() -> list[str]:
    """/bin, /lib, /lib64 as the host has them: links into /usr where /usr is merged, else
    read-only binds (the compiler and the linker need them)."""
    args = []
    for folder in ("/bin", "/lib", "/lib64"):
        if os.path.islink(folder):
            args += ["--symlink", os.readlink(folder), folder]
        elif os.path.isdir(folder):
            args += ["--ro-bind", folder, folder]
    return args


def _drop_to(uid: int, tools: Toolchain) -> list[str]:
    return [
        str(tools.setpriv),
        f"--reuid={uid}",
        f"--regid={uid}",
        "--clear-groups",
        "--bounding-set=-all",
        "--inh-caps=-all",
        "--no-new-privs",
        "--",
    ]


@dataclass(frozen=True)
class _Ran:
    code: int  # bwrap's exit status: the program's, or 128 + the signal that ended it
    cpu_s: float
    wall_s: float
    wall_exceeded: bool


def _children(pid: int) -> list[int]:
    try:
        return [
            int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        ]
    except OSError:
        return []


def _end_sandbox(unshare: int) -> None:
    """SIGKILL the outer namespace's pid 1 (bwrap, unshare's child): the kernel then kills every
    process in it, and none can fork into a dying one, so unshare returns with the sandbox gone."""
    for child in _children(unshare):
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)


FD_DATA = "{data-fd}"  # in a sandbox's argv: the number of the descriptor that holds ``data``


def _spawn(
    argv: list[str],
    *,
    stdin: Path,
    stdout: Path,
    stderr: Path,
    wall_s: float,
    data: bytes | None = None,
) -> _Ran:
    """Run ``argv`` (prlimit, unshare, bwrap) in its own session with files for stdio, ``data``
    readable on the descriptor named where ``FD_DATA`` stands, and no other descriptor of ours
    (``close_fds``: what this process inherited must not reach the program); at ``wall_s`` end
    the sandbox, and the whole session too if that is not enough."""
    started = time.monotonic()
    with contextlib.ExitStack() as files:
        keep: tuple[int, ...] = ()
        if data is not None:
            extra = files.enter_context(open(os.memfd_create("judge-data"), "w+b"))
            extra.write(data)
            extra.flush()
            extra.seek(0)
            keep = (extra.fileno(),)
            argv = [str(keep[0]) if word == FD_DATA else word for word in argv]
        process = subprocess.Popen(
            argv,
            stdin=files.enter_context(stdin.open("rb")),
            stdout=files.enter_context(stdout.open("wb")),
            stderr=files.enter_context(stderr.open("wb")),
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
            close_fds=True,
            pass_fds=keep,
            start_new_session=True,
        )
    pid = process.pid
    exceeded, ended, lock = threading.Event(), threading.Event(), threading.Lock()

    def kill() -> None:
        exceeded.set()
        with lock:  # never signal a process that was reaped: its id may be reused
            if not ended.is_set():
                _end_sandbox(pid)
        if not ended.wait(5):
            with lock:
                if not ended.is_set():
                    os.killpg(pid, signal.SIGKILL)

    timer = threading.Timer(wall_s, kill)
    timer.daemon = True
    timer.start()
    try:
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
        with lock:
            ended.set()
    finally:
        timer.cancel()
    _, status, usage = os.wait4(pid, 0)  # Popen never reaps it: we hold the object till here
    code = process.returncode = os.waitstatus_to_exitcode(status)
    return _Ran(
        code=128 - code if code < 0 else code,
        cpu_s=usage.ru_utime + usage.ru_stime,
        wall_s=time.monotonic() - started,
        wall_exceeded=exceeded.is_set(),
    )


SANDBOX_TOOLS = ("prlimit:", "unshare:", "bwrap:", "setpriv:")  # how their own errors begin


def _head(path: Path, limit: int) -> str:
    with path.open("rb") as f:
        data = f.read(limit + 1)
    text = data[:limit].decode("utf-8", errors="replace")
    return text + ("\n[... compiler output cut]" if len(data) > limit else "")


def compile_rust(source: str, workdir: Path) -> tuple[Path | None, str]:
    """Compile ``source`` in the sandbox; the binary (``workdir/main``, root's) or None, and the
    compiler's output (capped). Raises ``SandboxUnavailable`` when the machine can't sandbox."""
    tools = toolchain()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if not isinstance(source, str):
        return None, f"the program is a {type(source).__name__}, not a string of Rust"
    encoded = source.encode("utf-8", errors="replace")
    if len(encoded) > MAX_SOURCE_BYTES:
        return None, f"the program has {len(encoded)} bytes, over {MAX_SOURCE_BYTES}"
    source_file = workdir / "main.rs"
    source_file.write_bytes(encoded)
    source_file.chmod(0o644)
    binary = workdir / "main"
    binary.unlink(missing_ok=True)
    out = Path(tempfile.mkdtemp(prefix="build-", dir=workdir))
    uid = _take_uid()
    try:
        os.chown(out, uid, uid)
        out.chmod(0o700)
        log = workdir / "compiler.txt"
        argv = [
            str(tools.prlimit),
            f"--cpu={COMPILE_CPU_S}:{COMPILE_CPU_S + 1}",
            f"--as={COMPILE_MEMORY}",
            f"--fsize={COMPILE_FILE_SIZE}",
            "--nproc=256",
            "--nofile=512",
            "--core=0",
            "--",
            *_outer_namespace(tools),
            str(tools.bwrap),
            *NAMESPACES,
            "--ro-bind", "/usr", "/usr",
            *_system_folders(),
            "--ro-bind", str(tools.sysroot), "/rustc",
            "--perms", "0755", "--dir", "/src",
            "--ro-bind", str(source_file), "/src/main.rs",
            "--bind", str(out), "/out",
            "--proc", "/proc",
            "--dev", "/dev",
            "--perms", "1777", "--size", str(COMPILE_TMP), "--tmpfs", "/tmp",
            "--chdir", "/out",
            "--setenv", "PATH", "/usr/bin",
            "--setenv", "TMPDIR", "/tmp",
            "--setenv", "LANG", "C.UTF-8",
            *_drop_to(uid, tools),
            "/rustc/bin/rustc",
            "--edition", EDITION,
            "-O",
            "--crate-name", "main",
            "--crate-type", "bin",
            "-C", "target-feature=+crt-static",
            "-C", "strip=debuginfo",
            "-C", f"linker={tools.linker}",
            "--color", "never",
            "-o", "/out/main",
            "/src/main.rs",
        ]  # fmt: skip
        ran = _spawn(argv, stdin=Path("/dev/null"), stdout=log, stderr=log, wall_s=COMPILE_WALL_S)
        output = _head(log, COMPILER_OUTPUT_CAP)
        if ran.code != 0 and output.startswith(SANDBOX_TOOLS):  # rustc's own start "error"
            raise SandboxUnavailable(f"the sandbox failed: {output.splitlines()[0]}")
        built = out / "main"
        if ran.wall_exceeded or ran.code == 128 + signal.SIGXCPU or ran.cpu_s >= COMPILE_CPU_S:
            return None, f"compilation exceeded its time limit ({COMPILE_CPU_S} s)\n{output}"
        if ran.code != 0 or not built.is_file() or built.is_symlink():
            return None, output or f"rustc ended with status {ran.code} and no output"
        shutil.copyfile(built, binary)
        binary.chmod(0o755)
        return binary, output
    finally:
        _give_back_uid(uid)
        shutil.rmtree(out, ignore_errors=True)


def _lines(data: bytes) -> list[bytes]:
    lines = [line.rstrip() for line in data.split(b"\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def same_output(got: bytes, expected: str | bytes) -> bool:
    """Exact, except trailing whitespace on each line and trailing blank lines."""
    if isinstance(expected, str):
        expected = expected.encode()
    return _lines(got) == _lines(expected)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _run_test(binary: Path, test_input: str, rundir: Path, time_limit_s: float, memory_mb: int):
    """Run one test; the failing (status, detail) or (None, output bytes)."""
    tools = toolchain()
    stdin, stdout, stderr = rundir / "input", rundir / "stdout", rundir / "stderr"
    stdin.write_bytes(test_input.encode())
    stdin.chmod(0o600)
    cpu = max(1, math.ceil(time_limit_s))
    seccomp = seccomp_filter()
    uid = _take_uid()
    libraries = []
    for path in (tools.setpriv, *tools.setpriv_files):
        libraries += ["--ro-bind", str(path), str(path)]
    argv = [
        str(tools.prlimit),
        f"--cpu={cpu}:{cpu + 1}",
        f"--as={memory_mb * 1024**2}",
        f"--fsize={OUTPUT_CAP}",
        f"--stack={min(RUN_STACK, memory_mb * 1024**2 // 2)}",
        f"--nproc={RUN_NPROC}",
        f"--nofile={RUN_NOFILE}",
        "--core=0",
        "--",
        *_outer_namespace(tools),
        str(tools.bwrap),
        *NAMESPACES,
        *libraries,
        "--perms", "0755", "--dir", "/sandbox",
        "--ro-bind", str(binary), "/sandbox/main",
        "--proc", "/proc",
        "--dev", "/dev",
        "--perms", "1777", "--size", str(RUN_TMP), "--tmpfs", "/work",
        "--chdir", "/work",
        "--setenv", "PATH", "/sandbox",
        *(["--seccomp", FD_DATA] if seccomp else []),
        *_drop_to(uid, tools),
        "/sandbox/main",
    ]  # fmt: skip
    wall_s = time_limit_s * WALL_FACTOR
    try:
        ran = _spawn(argv, stdin=stdin, stdout=stdout, stderr=stderr, wall_s=wall_s, data=seccomp)
    finally:
        _give_back_uid(uid)
    with stderr.open("rb") as f:
        errors = f.read(64 * 1024)
    size = stdout.stat().st_size
    signalled = ran.code - 128 if ran.code > 128 else None
    if ran.wall_exceeded:
        return "timeout", f"over {time_limit_s * WALL_FACTOR:g} s of wall clock"
    if signalled == signal.SIGXCPU or ran.cpu_s > time_limit_s:
        return "timeout", f"over {time_limit_s:g} s of CPU"
    if signalled == signal.SIGKILL and ran.cpu_s >= cpu:
        return "timeout", f"over {time_limit_s:g} s of CPU"
    if signalled == signal.SIGXFSZ or size >= OUTPUT_CAP:
        return "output_limit", f"output over {OUTPUT_CAP // 1024**2} MiB"
    if b"memory allocation of" in errors:
        return "memory", f"over {memory_mb} MiB"
    if ran.code != 0:
        if b"has overflowed its stack" in errors:
            return "runtime_error", "stack overflow"
        if ran.code == 101 and b"panicked" in errors:
            return "runtime_error", "panic"
        if signalled:
            return "runtime_error", f"killed by {_signal_name(signalled)}"
        return "runtime_error", f"exit status {ran.code}"
    with stdout.open("rb") as f:
        return None, f.read()


def judge(
    source: str,
    tests: list[dict],
    *,
    workdir: Path,
    time_limit_s: float = 2.0,
    memory_mb: int = 256,
) -> Verdict:
    """Compile ``source`` and run it on each ``{"input", "output"}`` test in order; the first
    failure is the verdict. ``seconds`` is the wall time of the whole judging."""
    started = time.monotonic()

    def verdict(status: Status, test: int | None, detail: str) -> Verdict:
        return Verdict(status, test, detail, round(time.monotonic() - started, 3))

    if not tests:
        return verdict("judge_error", None, "the problem has no tests")
    for number, test in enumerate(tests, start=1):
        if not (
            isinstance(test, dict)
            and isinstance(test.get("input"), str)
            and isinstance(test.get("output"), str)
        ):
            return verdict("judge_error", number, f"test {number} lacks a string input or output")
    workdir = Path(workdir)
    try:
        binary, output = compile_rust(source, workdir)
        if binary is None:
            return verdict("compile_error", None, _compile_summary(output))
        rundir = workdir / "run"
        rundir.mkdir(exist_ok=True)
        for number, test in enumerate(tests, start=1):
            failed, result = _run_test(binary, test["input"], rundir, time_limit_s, memory_mb)
            if failed:
                return verdict(failed, number, f"{PHRASES[failed]} on test {number}: {result}")
            if not same_output(result, test["output"]):
                return verdict("wrong_answer", number, f"wrong answer on test {number}")
    except SandboxUnavailable as error:
        return verdict("judge_error", None, str(error))
    except OSError as error:
        return verdict("judge_error", None, f"the judge failed: {error}")
    return verdict("accepted", None, f"passed {len(tests)} tests")


def _compile_summary(output: str, limit: int = 600) -> str:
    """The first error the compiler gave (with its location), short enough for a score's details."""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("error"):
            return "\n".join(lines[i : i + 2])[:limit]
    return output.strip()[:limit] or "compilation failed"
