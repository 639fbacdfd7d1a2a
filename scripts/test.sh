#!/usr/bin/env bash
# The whole suite: lint, every test on SQLite, then on PostgreSQL what touches the database (a
# fresh database each; browser journeys and host-level tests run once: tests/conftest.py). Each
# pass ends with its 25 slowest steps, for whoever keeps the suite under its time.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  echo "==> starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n 1)" main start
  for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi

echo "==> ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .

echo "==> tests on SQLite"
.venv/bin/pytest --db=sqlite --durations=25 "$@"
echo "==> tests on PostgreSQL"
.venv/bin/pytest --db=postgres --durations=25 "$@"
