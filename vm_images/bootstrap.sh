#!/usr/bin/env bash
# Make a fresh GPU VM a Baseliner host, for either runtime. Run as root on the VM, from a copy of
# this folder (scp -r vm_images/ root@HOST:), after the NVIDIA driver is installed:
#
#   ENGINE=podman ./bootstrap.sh     # or ENGINE=docker
#
# It checks the driver, installs the container engine and the NVIDIA Container Toolkit and writes
# the CDI spec (GPUs are given to containers by index: --device nvidia.com/gpu=N on podman,
# --gpus "device=N" on docker), installs Node 24 + code-server into /var/cache/baseliner (the
# process runtime runs them from there; the container runtime mounts them into the workspace),
# creates /var/lib/baseliner/workspaces, and prints the SSH host key to pin on the portal.
# Debian 12 / Ubuntu 22.04 / Ubuntu 24.04 with apt; re-running it is safe.
set -euo pipefail
cd "$(dirname "$0")"

ENGINE="${ENGINE:-podman}"
CACHE=/var/cache/baseliner
WORKSPACES=/var/lib/baseliner/workspaces

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
fail() { echo "bootstrap: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "run as root"
command -v apt-get >/dev/null || fail "this script knows apt-based systems (Debian, Ubuntu) only"
case "$ENGINE" in podman | docker) ;; *) fail "ENGINE must be podman or docker, not $ENGINE" ;; esac

say "checking the NVIDIA driver"
command -v nvidia-smi >/dev/null ||
  fail "nvidia-smi is missing: install the NVIDIA driver (e.g. ubuntu-drivers install --gpgpu) and reboot"
nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv,noheader ||
  fail "nvidia-smi cannot talk to the driver; reboot after installing it, or check dmesg"
# The workspace image is built on CUDA 13.0, as the environments were calibrated
# (environments/calibration_host.py), which needs this driver or later.
MIN_DRIVER=580
driver="$(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -n 1)"
[ "${driver%%.*}" -ge "$MIN_DRIVER" ] 2>/dev/null ||
  fail "NVIDIA driver $driver is older than $MIN_DRIVER, which CUDA 13.0 (the workspace image's) needs"

export DEBIAN_FRONTEND=noninteractive
apt_install() { apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }

say "installing base packages and $ENGINE"
apt-get update -qq
# npm only starts install-code-server.sh (which brings its own npm 11); tar and gzip archive runs.
apt_install ca-certificates curl gnupg openssh-server npm tar gzip
if [ "$ENGINE" = podman ]; then
  apt_install podman catatonit # catatonit: the --init the runtime passes
  version="$(podman version --format '{{.Client.Version}}')"
  # CDI device names (nvidia.com/gpu=N) arrived in podman 4.1; Ubuntu 22.04 ships 3.4.
  [ "$(printf '%s\n4.1\n' "$version" | sort -V | head -n 1)" = 4.1 ] ||
    fail "podman $version is too old for CDI GPUs (need 4.1+): use Ubuntu 24.04 or Debian 12, or ENGINE=docker"
else
  apt_install docker.io
  systemctl enable --now docker
fi

say "installing the NVIDIA Container Toolkit"
if ! command -v nvidia-ctk >/dev/null; then
  keyring=/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg
  curl -fsSL https://nvidia.github.io/libnvidia-container/gpgkey | gpg --batch --yes --dearmor -o "$keyring"
  curl -fsSL https://nvidia.github.io/libnvidia-container/stable/deb/nvidia-container-toolkit.list |
    sed "s#deb https://#deb [signed-by=$keyring] https://#g" \
      >/etc/apt/sources.list.d/nvidia-container-toolkit.list
  apt-get update -qq
  apt_install nvidia-container-toolkit
fi
mkdir -p /etc/cdi
nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml
nvidia-ctk cdi list
if [ "$ENGINE" = docker ]; then
  nvidia-ctk runtime configure --runtime=docker # what `docker run --gpus` goes through
  systemctl restart docker
fi

say "installing Node 24 and code-server into $CACHE"
bash ./install-code-server.sh "$CACHE"

say "creating $WORKSPACES"
# Task folders inside are 0700 and owned by the container's agent (uid 1000).
mkdir -p "$WORKSPACES"
chmod 711 /var/lib/baseliner "$WORKSPACES"

say "done; register the host on the portal with this key"
for key in /etc/ssh/ssh_host_ed25519_key.pub /etc/ssh/ssh_host_ecdsa_key.pub; do
  [ -f "$key" ] || continue
  ssh-keygen -lf "$key"
  echo "host key line: $(cut -d' ' -f1,2 "$key")"
  break
done
echo "build or load the workspace image next (see vm_images/README.md): $ENGINE images"
