"""Wheels of the platform's dependencies that the lent GPU machine lacks, for its Python.

The device machine (see scripts/gpu_env_check.sh) has PyTorch, Triton, numpy and about two hundred
other packages, but no package registry. This resolves pyproject's [project] dependencies
transitively against this checkout's .venv (so the versions the tests ran with travel), leaves out
every package the GPU image already holds (`ON_GPU`, as /work/.library/device/KINDS.md lists
them), and downloads one cp312 manylinux x86_64 wheel of each of the rest into .whl/. The
requirements those left-out packages must meet go to .whl/needs.txt, which gpu_env_check.sh
checks on the machine before it starts.
"""

import argparse
import importlib.metadata as md
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
# The GPU image's Python (KINDS.md: "python3 is Python 3.12.3, at /opt/torch/.venv/bin/python3").
PYTHON = "3.12"
PLATFORMS = [
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
]
# What the image 'cuda' of the device machines holds (KINDS.md, "Python packages already there").
IMAGE_PACKAGES = """
    absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs
    botorch build certifi charset-normalizer chex click cloudpickle cmake colorama contourpy
    coverage cuda-bindings cuda-core cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython
    diffrax e3nn einops equinox etils execnet filelock flatbuffers flax fonttools formulaic
    frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize
    hypothesis idna imageio iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib
    jaxtyping jinja2 joblib kiwisolver lazy-loader lightning lightning-utilities linear-operator
    lineax llvmlite lxml markdown markdown-it-py markupsafe matplotlib mdurl meson ml-dtypes
    mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind narwhals networkx
    ninja numba numba-cuda numpy numpyro nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc
    nvidia-cuda-runtime nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile nvidia-curand
    nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13 nvidia-ml-py nvidia-nccl-cu13
    nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir onnxruntime onnxscript
    opencv-python-headless optax opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging
    pandas pathspec patsy peft pillow pip pluggy portalocker prometheus-client propcache protobuf
    psutil pyarrow pybind11 py-cpuinfo pygments pyparsing pyproject-hooks pyre-extensions pytest
    pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist python-dateutil
    pytorch-lightning pyyaml regex requests rich sacrebleu safetensors scikit-build-core
    scikit-image scikit-learn scipy seaborn sentencepiece sentence-transformers setuptools
    shellingham simplejson six sortedcontainers statsmodels sympy tabulate tensorboard
    tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm tokenizers toolz
    torch torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm transformers
    treescope triton typer typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug
    wheel wrapt xarray xxhash yarl zipp
"""
ON_GPU = frozenset(canonicalize_name(name) for name in IMAGE_PACKAGES.split())
# Carried although the image has it: pydantic wants a newer typing-extensions than the image may
# hold, and a newer one serves everything an older one did.
ALWAYS = frozenset({"typing-extensions"})


def marker_env(extra: str = "") -> dict[str, str]:
    """Markers as they read on the GPU machine (Linux, x86-64, CPython 3.12)."""
    env = dict(default_environment())
    env.update(
        python_version=PYTHON,
        python_full_version=f"{PYTHON}.3",
        sys_platform="linux",
        platform_system="Linux",
        platform_machine="x86_64",
        implementation_name="cpython",
        platform_python_implementation="CPython",
        os_name="posix",
        extra=extra,
    )
    return env


def applies(req: Requirement, extras: set[str]) -> bool:
    if req.marker is None:
        return True
    return any(req.marker.evaluate(marker_env(e)) for e in (extras or {""}) | {""})


def resolve() -> tuple[dict[str, str], dict[str, list[tuple[str, str]]]]:
    """(name -> version or specifier to fetch, name -> [(specifier, who asks)] for packages left
    to the GPU image)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    queue = [(Requirement(text), "baseliner") for text in project["dependencies"]]
    fetch: dict[str, str] = {}
    needs: dict[str, list[tuple[str, str]]] = {}
    seen: dict[str, set[str]] = {}
    while queue:
        req, by = queue.pop()
        name = canonicalize_name(req.name)
        if name in ON_GPU and name not in ALWAYS:
            if str(req.specifier):
                needs.setdefault(name, []).append((str(req.specifier), by))
            continue
        extras = set(req.extras)
        if name in seen and extras <= seen[name]:
            continue
        seen.setdefault(name, set()).update(extras)
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:  # needed on 3.12 but not by this venv's Python
            fetch[name] = str(req.specifier)
            continue
        fetch[name] = f"=={dist.version}"
        for text in dist.requires or []:
            sub = Requirement(text)
            if applies(sub, extras):
                queue.append((sub, f"{name} {dist.version}"))
    return fetch, needs


def download(fetch: dict[str, str], target: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="gpu-wheels-") as tmp:
        command = [sys.executable, "-m", "pip", "download", "-qq", "--no-deps"]
        command += ["--only-binary=:all:", "--python-version", PYTHON, "--implementation", "cp"]
        for platform in PLATFORMS:
            command += ["--platform", platform]
        command += ["-d", tmp, *(f"{name}{spec}" for name, spec in sorted(fetch.items()))]
        subprocess.run(command, check=True)
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(tmp, target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=ROOT / ".whl")
    parser.add_argument("--dry-run", action="store_true", help="List, download nothing.")
    args = parser.parse_args()
    fetch, needs = resolve()
    for name, spec in sorted(fetch.items()):
        print(f"fetch {name}{spec}")
    if args.dry_run:
        return
    download(fetch, args.dest)
    lines = [f"{name}{spec}\t{by}\n" for name in sorted(needs) for spec, by in needs[name]]
    (args.dest / "needs.txt").write_text("".join(lines))
    total = 0
    for wheel in sorted(args.dest.glob("*.whl")):
        size = wheel.stat().st_size
        total += size
        print(f"{size / 2**20:7.2f} MiB  {wheel.name}")
    count = len(list(args.dest.glob("*.whl")))
    print(f"{total / 2**20:7.2f} MiB  in all, {count} wheels in {args.dest}")


if __name__ == "__main__":
    main()
