"""vm_images/ builds GPU hosts that score like the calibration host: the Dockerfile's pins, the
bootstrap's driver floor and the calibration record all say what
environments/calibration_host.py says, so none of them drifts silently.

The image itself is not built here (no container registry is reachable from this machine): these
read the files, and run bootstrap.sh's driver check against stand-in ``nvidia-smi`` programs.
"""

import os
import re
import subprocess
from pathlib import Path

import pytest

from environments import calibration_host as host

ROOT = Path(__file__).resolve().parents[2]
VM_IMAGES = ROOT / "vm_images"
DOCKERFILE = (VM_IMAGES / "Dockerfile").read_text()
CUMSUM = ROOT / "environments" / "triton_cumsum"
CUDA_MINOR = ".".join(host.CUDA.split(".")[:2])  # 13.0, as nvidia-smi and torch name it


def _args() -> dict[str, str]:
    return dict(re.findall(r"^ARG (\w+)=(\S+)$", DOCKERFILE, re.MULTILINE))


def test_the_image_pins_the_calibrated_versions() -> None:
    args = _args()
    assert args["CUDA_BASE"] == f"nvidia/cuda:{host.CUDA}-runtime-ubuntu{host.UBUNTU}"
    assert args["TORCH_VERSION"] == host.TORCH
    assert args["TORCH_BUILD"] == host.TORCH_BUILD
    assert args["TRITON_VERSION"] == host.TRITON
    # Both stages build on that base, and nothing else is pulled.
    assert re.findall(r"^FROM (\S+)", DOCKERFILE, re.MULTILINE) == ["${CUDA_BASE}"] * 2
    assert '"torch==${TORCH_VERSION}" "triton==${TRITON_VERSION}"' in DOCKERFILE


def test_the_image_checks_what_it_installed() -> None:
    """The build fails, rather than making a host that scores differently, when pip brings
    another torch build or the base another Python."""
    assert "assert got == ('${TORCH_VERSION}+${TORCH_BUILD}', '${TRITON_VERSION}'), got" in (
        DOCKERFILE.replace("\\\n", "")
    )
    major, minor = host.PYTHON.split(".")
    assert f"sys.version_info[:2] == ({major}, {minor})" in DOCKERFILE
    assert "deadsnakes" not in DOCKERFILE  # the distribution's own Python is the calibrated one


def test_the_calibration_record_names_the_same_software() -> None:
    readme = (CUMSUM / "README.md").read_text()
    calibrated = f"torch {host.TORCH}+{host.TORCH_BUILD}, Triton {host.TRITON}"
    assert f"{host.GPU}, driver {host.DRIVER}, CUDA {CUDA_MINOR}, {calibrated}" in readme
    assert f"Python {host.PYTHON}." in readme
    manifest = (CUMSUM / "manifest.yaml").read_text()
    assert f"torch {host.TORCH}+{host.TORCH_BUILD}, triton {host.TRITON}" in manifest
    guide = " ".join((VM_IMAGES / "README.md").read_text().split())  # lines joined
    for words in (
        f"`nvidia/cuda` {CUDA_MINOR} runtime on Ubuntu {host.UBUNTU}",
        f"Python {host.PYTHON} with PyTorch {host.TORCH} ({host.TORCH_BUILD},",
        f"Triton {host.TRITON}",
        f"driver {host.DRIVER_MIN_MAJOR} or later",
    ):
        assert words in guide, words


def test_the_bootstrap_driver_floor_is_the_images() -> None:
    script = (VM_IMAGES / "bootstrap.sh").read_text()
    assert re.search(r"^MIN_DRIVER=(\d+)$", script, re.MULTILINE).group(1) == str(
        host.DRIVER_MIN_MAJOR
    )
    assert int(host.DRIVER.split(".")[0]) >= host.DRIVER_MIN_MAJOR


def _bootstrap_with_driver(tmp_path: Path, version: str) -> subprocess.CompletedProcess:
    """bootstrap.sh with a stand-in nvidia-smi reporting ``version``, and an apt-get that only
    leaves a mark: the script stops at the driver check or at its first install step."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    smi.write_text(
        "#!/bin/sh\n"
        'case "$*" in *index*) echo "0, NVIDIA H100 80GB HBM3, 81559 MiB, ' + version + '" ;;\n'
        "  *) echo " + version + " ;; esac\n"
    )
    apt = bin_dir / "apt-get"
    apt.write_text(f"#!/bin/sh\ntouch {tmp_path / 'apt-ran'}\nexit 97\n")
    for program in (smi, apt):
        program.chmod(0o755)
    return subprocess.run(
        ["bash", str(VM_IMAGES / "bootstrap.sh")],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "ENGINE": "podman"},
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="bootstrap.sh runs as root only")
def test_bootstrap_refuses_a_driver_too_old_for_the_image(tmp_path: Path) -> None:
    old = _bootstrap_with_driver(tmp_path, "535.104.05")
    assert old.returncode == 1
    assert "NVIDIA driver 535.104.05 is older than 580" in old.stderr
    assert not (tmp_path / "apt-ran").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="bootstrap.sh runs as root only")
def test_bootstrap_goes_on_with_the_calibration_hosts_driver(tmp_path: Path) -> None:
    ok = _bootstrap_with_driver(tmp_path, host.DRIVER)
    assert ok.returncode == 97, ok.stderr  # the stand-in apt-get's answer: past the check
    assert "older than" not in ok.stderr
    assert (tmp_path / "apt-ran").exists()
