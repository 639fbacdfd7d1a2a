"""The rust_scaffolding judge with the machine's real rustc and real bubblewrap: verdicts for
good, wrong, broken, slow, greedy and flooding programs, and each escape attempt (read a hidden
file, open a socket, fork-bomb, fill the disk, write outside its folder, run as root, read a
hidden file at compile time) fails safely and leaves the host as it was."""

import os
import shutil
import socket
import time
from pathlib import Path

import pytest

from environments.rust_scaffolding import judge as rj

try:
    TOOLS = rj.toolchain()
    SKIP = ""
except rj.SandboxUnavailable as error:
    TOOLS, SKIP = None, f"the judge's sandbox is unavailable here: {error}"

pytestmark = pytest.mark.skipif(bool(SKIP), reason=SKIP or "-")

SUM = """
use std::io::Read;
fn main() {
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s).unwrap();
    let total: i64 = s.split_whitespace().map(|x| x.parse::<i64>().unwrap()).sum();
    println!("{}   ", total); // trailing spaces, forgiven
    println!();
}
"""
TESTS = [
    {"input": "1 2\n", "output": "3\n"},
    {"input": "10 20 30\n", "output": "60"},
    {"input": "-5 5\n", "output": "0\n\n\n"},
]


def judged(source: str, tmp_path: Path, tests=None, **limits) -> rj.Verdict:
    return rj.judge(source, tests or [{"input": "", "output": "ok\n"}], workdir=tmp_path, **limits)


def sandbox_processes() -> list[str]:
    """Processes on the host still running as one of the judge's uids."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        uid = next(int(line.split()[1]) for line in text.splitlines() if line.startswith("Uid:"))
        if uid in rj.UID_RANGE:
            found.append(status.parent.name)
    return found


def test_same_output_forgives_trailing_whitespace_only():
    assert rj.same_output(b"1 2  \n3\t\r\n\n\n", "1 2\n3")
    assert rj.same_output(b"", "\n\n")
    assert not rj.same_output(b" 1 2\n3", "1 2\n3")
    assert not rj.same_output(b"1  2\n3", "1 2\n3")
    assert not rj.same_output(b"1\n\n3", "1\n3")
    assert not rj.same_output(b"12", "1\n2")


def test_toolchain_is_the_real_rustc_not_rustups_proxy():
    assert TOOLS.rustc == TOOLS.sysroot / "bin" / "rustc"
    assert TOOLS.version.startswith("rustc ")


def test_accepted(tmp_path):
    verdict = rj.judge(SUM, TESTS, workdir=tmp_path)
    assert verdict == rj.Verdict("accepted", None, "passed 3 tests", verdict.seconds)
    assert 0 < verdict.seconds < 30


def test_wrong_answer_names_the_first_failing_test(tmp_path):
    tests = [TESTS[0], {"input": "2 2\n", "output": "5\n"}, {"input": "1\n", "output": "7\n"}]
    verdict = rj.judge(SUM, tests, workdir=tmp_path)
    assert (verdict.status, verdict.test) == ("wrong_answer", 2)
    assert verdict.detail == "wrong answer on test 2"


def test_compile_error_keeps_the_compilers_message(tmp_path):
    source = 'fn main() { let x: i32 = "a"; println!("{}", x); }'
    binary, output = rj.compile_rust(source, tmp_path)
    assert binary is None and "mismatched types" in output
    verdict = judged(source, tmp_path)
    assert verdict.status == "compile_error" and verdict.test is None
    assert verdict.detail.startswith("error[E0308]: mismatched types")


def test_crates_are_not_available(tmp_path):
    verdict = judged("use rand::Rng;\nfn main() {}", tmp_path)
    assert verdict.status == "compile_error" and "rand" in verdict.detail


def test_bad_source_is_a_compile_error_not_a_crash(tmp_path):
    assert judged(None, tmp_path).status == "compile_error"
    assert judged("x" * (rj.MAX_SOURCE_BYTES + 1), tmp_path).status == "compile_error"
    assert rj.judge("fn main() {}", [], workdir=tmp_path).status == "judge_error"
    malformed = rj.judge("fn main() {}", [TESTS[0], {"input": 3}], workdir=tmp_path)
    assert (malformed.status, malformed.test) == ("judge_error", 2)


def test_runtime_error(tmp_path):
    verdict = judged('fn main() { let v: Vec<u8> = vec![]; println!("{}", v[3]); }', tmp_path)
    assert (verdict.status, verdict.test) == ("runtime_error", 1)
    assert verdict.detail == "runtime error on test 1: panic"
    # A frame too big to be optimised away (std::hint::black_box is newer than Debian's rustc).
    deep = "fn f(n: u64) -> u64 { let a = [n; 4096];"
    deep += " if n == 0 { 0 } else { a[(n % 4096) as usize] + f(n - 1) + a[0] } }\n"
    deep += 'fn main() { println!("{}", f(u64::MAX - std::env::args().count() as u64)); }'
    verdict = judged(deep, tmp_path)
    assert verdict.detail == "runtime error on test 1: stack overflow", verdict


def test_infinite_loop_times_out_within_about_three_seconds(tmp_path):
    source = (
        "fn main() { let mut x = 0u64; loop { x = unsafe { std::ptr::read_volatile(&x) } + 1; } }"
    )
    rj.compile_rust(source, tmp_path)  # warm: the figure below is the run's, plus a recompile
    started = time.monotonic()
    verdict = judged(source, tmp_path, tests=[TESTS[0], TESTS[0]])
    assert (verdict.status, verdict.test) == ("timeout", 1)
    assert time.monotonic() - started < 5
    assert not sandbox_processes()


def test_sleeping_forever_times_out_on_the_wall_clock(tmp_path):
    source = "fn main() { std::thread::sleep(std::time::Duration::from_secs(3600)); }"
    verdict = judged(source, tmp_path, time_limit_s=0.5)
    assert verdict.status == "timeout" and "wall clock" in verdict.detail
    assert not sandbox_processes()


def test_memory_hog(tmp_path):
    source = """
    fn main() {
        let mut v: Vec<Vec<u8>> = Vec::new();
        loop { v.push(vec![7u8; 1 << 20]); }
    }"""
    verdict = judged(source, tmp_path)
    assert (verdict.status, verdict.test) == ("memory", 1)


def test_output_flood(tmp_path):
    source = 'fn main() { loop { println!("flood flood flood flood flood flood"); } }'
    verdict = judged(source, tmp_path)
    assert (verdict.status, verdict.test) == ("output_limit", 1)
    assert (tmp_path / "run" / "stdout").stat().st_size <= rj.OUTPUT_CAP


def test_never_runs_as_root_nor_with_capabilities(tmp_path):
    source = """
    fn main() {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let field = |name: &str| status.lines().find(|l| l.starts_with(name)).unwrap()
            .split_whitespace().nth(1).unwrap().to_string();
        let uid: u32 = field("Uid:").parse().unwrap();
        let ok = uid != 0 && field("CapEff:") == "0000000000000000"
            && field("CapBnd:") == "0000000000000000" && field("NoNewPrivs:") == "1";
        println!("{}", if ok { "unprivileged" } else { "PRIVILEGED" });
    }"""
    verdict = judged(source, tmp_path, tests=[{"input": "", "output": "unprivileged"}])
    assert verdict.status == "accepted", verdict


def test_reading_hidden_files_fails(tmp_path):
    hidden = tmp_path / "protected"
    hidden.mkdir(mode=0o700)
    secret = hidden / "test.json"
    secret.write_text("THE HIDDEN TESTS")
    secret.chmod(0o600)
    public = tmp_path / "public.txt"  # world-readable but outside the sandbox: not even visible
    public.write_text("THE HIDDEN TESTS")
    public.chmod(0o644)
    source = """
    fn main() {
        for path in [PATHS] {
            match std::fs::read_to_string(path) {
                Ok(text) => print!("{}", text),
                Err(_) => println!("denied"),
            }
        }
    }""".replace(
        "PATHS", ", ".join(f'"{p}"' for p in [secret, public, "/etc/shadow", "/etc/passwd"])
    )
    stolen = judged(source, tmp_path / "a", tests=[{"input": "", "output": "THE HIDDEN TESTS"}])
    assert (stolen.status, stolen.test) == ("wrong_answer", 1)
    contained = judged(source, tmp_path / "b", tests=[{"input": "", "output": "denied\n" * 4}])
    assert contained.status == "accepted", contained


def test_a_socket_to_the_host_fails_and_reaches_nothing(tmp_path):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        port = listener.getsockname()[1]
        source = """
        use std::io::Write;
        fn main() {
            match std::net::TcpStream::connect("127.0.0.1:PORT") {
                Ok(mut s) => { let _ = s.write_all(b"escaped"); println!("connected"); }
                Err(_) => println!("no network"),
            }
            let udp = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
            let _ = udp.send_to(b"escaped", "127.0.0.1:PORT");
        }""".replace("PORT", str(port))
        verdict = judged(source, tmp_path, tests=[{"input": "", "output": "no network"}])
        assert verdict.status == "accepted", verdict
        with pytest.raises(BlockingIOError):
            listener.accept()


def test_fork_bomb_is_contained(tmp_path):
    source = """
    fn main() {
        let me = std::env::current_exe().unwrap();
        for _ in 0..100000 {
            let _ = std::process::Command::new(&me).spawn();
            let _ = std::thread::Builder::new()
                .spawn(|| loop { unsafe { std::ptr::read_volatile(&0) }; });
        }
        loop { unsafe { std::ptr::read_volatile(&0) }; }
    }"""
    started = time.monotonic()
    verdict = judged(source, tmp_path)
    assert verdict.status in {"timeout", "runtime_error"}, verdict
    assert time.monotonic() - started < 15
    assert not sandbox_processes()
    assert judged('fn main() { println!("ok"); }', tmp_path).status == "accepted"


def test_filling_the_disk_is_contained(tmp_path):
    free = shutil.disk_usage(tmp_path).free
    source = """
    use std::io::Write;
    fn main() {
        for i in 0..1000 {  // many files, each under the size cap: the scratch is a small tmpfs
            if let Ok(mut f) = std::fs::File::create(format!("part{}", i)) {
                let _ = f.write_all(&vec![1u8; 1 << 20]);
            }
        }
        let mut f = std::fs::File::create("huge").unwrap();
        let block = vec![0u8; 1 << 20];
        for _ in 0..10240 { f.write_all(&block).unwrap(); }
        println!("ok");
    }"""
    verdict = judged(source, tmp_path)
    assert verdict.status in {"output_limit", "runtime_error"}, verdict
    assert free - shutil.disk_usage(tmp_path).free < 64 * 1024**2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["compiler.txt", "main", "main.rs", "run"]


def test_writing_outside_its_folder_fails(tmp_path):
    marker = Path("/tmp/escape-marker")
    marker.unlink(missing_ok=True)
    targets = [marker, tmp_path / "escape-marker", "/sandbox/main", "/usr/escape-marker",
               "/escape-marker", "/proc/escape-marker", "../escape-marker"]  # fmt: skip
    source = """
    fn main() {
        let mut written = 0;
        for path in [PATHS] {
            if std::fs::write(path, b"escaped").is_ok() { written += 1; }
        }
        std::fs::write("inside", b"fine").unwrap();
        println!("{} escaped", written);
    }""".replace("PATHS", ", ".join(f'"{p}"' for p in targets))
    verdict = judged(source, tmp_path, tests=[{"input": "", "output": "0 escaped"}])
    assert verdict.status == "accepted", verdict
    assert not marker.exists() and not (tmp_path / "escape-marker").exists()
    assert not (tmp_path.parent / "escape-marker").exists()
    assert not Path("/usr/escape-marker").exists() and not Path("/escape-marker").exists()


def test_the_compiler_cannot_read_hidden_files(tmp_path):
    hidden = tmp_path / "protected"
    hidden.mkdir(mode=0o700)
    secret = hidden / "test.json"
    secret.write_text("THE HIDDEN TESTS")
    secret.chmod(0o600)
    for path in ["/etc/shadow", "/root/.bashrc", secret]:
        for macro in ["include_str", "include_bytes"]:
            source = f'fn main() {{ let s = {macro}!("{path}"); println!("{{:?}}", s); }}'
            binary, output = rj.compile_rust(source, tmp_path / "build")
            assert binary is None, (macro, path)
            assert "couldn't read" in output, output
            assert "HIDDEN" not in output and "root:" not in output


def test_the_compiler_has_a_time_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(rj, "COMPILE_CPU_S", 1)
    monkeypatch.setattr(rj, "COMPILE_WALL_S", 4)
    # 2**40 macro expansions: a compile that never ends by itself, on any rustc.
    source = """
    #![recursion_limit = "256"]
    macro_rules! e { () => {}; (x $($t:tt)*) => { e!($($t)*); e!($($t)*); }; }
    e!(x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x);
    fn main() {}"""
    started = time.monotonic()
    binary, output = rj.compile_rust(source, tmp_path)
    assert binary is None and "time limit" in output
    assert time.monotonic() - started < 10
    assert not sandbox_processes()


def test_judges_run_side_by_side(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        verdicts = list(
            pool.map(lambda i: rj.judge(SUM, TESTS, workdir=tmp_path / str(i)), range(4))
        )
    assert [v.status for v in verdicts] == ["accepted"] * 4
    assert not rj._uids_held  # each sandbox gave its uid back
    assert os.listdir(tmp_path / "0" / "run")


def test_namespaces_mounts_and_uncounted_memory_are_refused_but_threads_and_children_work(
    tmp_path,
):
    source = """
    extern "C" {
        fn unshare(flags: i32) -> i32;
        fn memfd_create(name: *const u8, flags: u32) -> i32;
        fn shmget(key: i32, size: usize, flags: i32) -> i32;
        fn msgget(key: i32, flags: i32) -> i32;
        fn syscall(number: i64, ...) -> i64;
    }
    fn main() {
        if std::env::args().nth(1).as_deref() == Some("child") { println!("child"); return; }
        let refused = unsafe { [
            unshare(0x10000000 | 0x20000) == -1,                  // CLONE_NEWUSER | CLONE_NEWNS
            syscall(56, 0x10000000i64 | 17, 0i64, 0i64, 0i64, 0i64) == -1, // clone(NEWUSER)
            syscall(165, b"none\\0".as_ptr(), b"/work\\0".as_ptr(), b"tmpfs\\0".as_ptr(),
                    0i64, 0i64) == -1,                            // mount
            memfd_create(b"x\\0".as_ptr(), 0) == -1,
            shmget(0, 1 << 20, 0o1000 | 0o600) == -1,             // IPC_PRIVATE, IPC_CREAT
            msgget(0, 0o1000 | 0o600) == -1,
        ] };
        let thread = std::thread::spawn(|| 21 * 2).join().unwrap();
        let me = std::env::current_exe().unwrap();
        let child = std::process::Command::new(me).arg("child").output().unwrap();
        print!("{:?} {} {}", refused, thread, String::from_utf8_lossy(&child.stdout));
    }"""
    expected = "[true, true, true, true, true, true] 42 child"
    verdict = judged(source, tmp_path, tests=[{"input": "", "output": expected}])
    assert verdict.status == "accepted", verdict


def test_a_fractional_time_limit_counts_the_programs_cpu_time(tmp_path):
    source = """
    fn main() {  // spin until 0.8 s of CPU (clock ticks of 1/100 s), then answer
        loop {
            let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
            let after = &stat[stat.rfind(')').unwrap() + 2..];
            let field = |n: usize| after.split_whitespace().nth(n).unwrap().parse::<u64>().unwrap();
            let ticks = field(11) + field(12); // utime + stime
            if ticks >= 80 { break; }
        }
        println!("ok");
    }"""
    assert judged(source, tmp_path).status == "accepted"
    verdict = judged(source, tmp_path, time_limit_s=0.5)
    assert verdict.status == "timeout" and "0.5 s of CPU" in verdict.detail, verdict


def test_only_stdin_stdout_and_stderr_reach_the_program(tmp_path):
    """Descriptors the judge's process inherited (here an inheritable pipe) stay outside."""
    read, write = os.pipe()
    os.set_inheritable(read, True)
    os.set_inheritable(write, True)
    source = """
    fn main() {
        let fds: Vec<_> = std::fs::read_dir("/proc/self/fd").unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        let mut others = 0;
        for fd in &fds {
            let target = std::fs::read_link(format!("/proc/self/fd/{}", fd));
            let is_the_listing = target.map(|t| t.starts_with("/proc")).unwrap_or(true);
            if !["0", "1", "2"].contains(&fd.as_str()) && !is_the_listing { others += 1; }
        }
        println!("{} others", others);
    }"""
    try:
        verdict = judged(source, tmp_path, tests=[{"input": "", "output": "0 others"}])
    finally:
        os.close(read)
        os.close(write)
    assert verdict.status == "accepted", verdict


def test_a_sandbox_that_cannot_start_is_a_judge_error_not_a_compile_error(tmp_path, monkeypatch):
    monkeypatch.setattr(rj, "NAMESPACES", [*rj.NAMESPACES, "--no-such-option"])
    verdict = judged('fn main() { println!("ok"); }', tmp_path)
    assert verdict.status == "judge_error" and "bwrap" in verdict.detail, verdict
