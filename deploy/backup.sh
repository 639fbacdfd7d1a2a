#!/usr/bin/env bash
# Nightly backup (deploy/systemd/baseliner-backup.timer, or cron): the database and the data dir
# into a new folder under $BACKUP_DIR, keeping the newest $BACKUP_KEEP. Copy $BACKUP_DIR off the
# machine as well (restic, rsync): a backup on the same disk is no backup.
# compose: docker compose -f deploy/compose.yaml exec app1 baseliner backup create --to /var/lib/baseliner-backups
set -euo pipefail
: "${BACKUP_DIR:=/var/backups/baseliner}"
: "${BACKUP_KEEP:=14}"
BASELINER="${BASELINER:-$(command -v baseliner || echo /opt/baseliner/.venv/bin/baseliner)}"
exec "$BASELINER" backup create --to "$BACKUP_DIR" --keep "$BACKUP_KEEP"
