#!/usr/bin/env bash
# A private PostgreSQL server for shared FINN-DSE studies (many workers, one study), used by the
# tests and usable for real runs on one machine. Idempotent: a no-op (well under a second) when it
# is already up. Installs Debian's `postgresql` when it is missing, runs its own cluster (own data
# directory, own port, listening on 127.0.0.1 only) and creates the role and database `finn_dse`.
# Needs root (apt-get, and the server runs as the `postgres` user); no systemd needed.
#
# Settings (environment, all optional):
#   FINN_DSE_SERVICES_DIR  state directory [/var/tmp/finn-dse-services]; the cluster is in pg/
#   FINN_DSE_PG_PORT       TCP port on 127.0.0.1 [55432]
# Prints one status line with the storage URL for `finn-dse worker/launch --storage`.
# Test settings: fsync and synchronous_commit are off (fast, but a power cut can lose the
# last trials); keep a production database on a properly configured server.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PORT=${FINN_DSE_PG_PORT:-55432}
DATA=$STATE/pg
SOCK=$STATE/pg-socket
LOG=$STATE/pg.log
ROLE=finn_dse
URL="postgresql://$ROLE:$ROLE@127.0.0.1:$PORT/$ROLE"

login_ok() {
  PGPASSWORD=$ROLE PGCONNECT_TIMEOUT=3 "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U "$ROLE" -d "$ROLE" -Atqc 'select 1' 2>/dev/null | grep -qx 1
}

find_bin() {  # the newest installed server version
  BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$BIN" ] && [ -x "$BIN/initdb" ]
}

if find_bin && login_ok; then
  echo "postgres: up at $URL (data $DATA)"
  exit 0
fi
need_root postgres "start a private PostgreSQL server" "or set FINN_DSE_TEST_POSTGRES_URL to a server of your own for the tests"
find_bin || apt_install postgres postgresql
find_bin || fail postgres "postgresql is installed but no server binaries were found in /usr/lib/postgresql/*/bin"
id postgres >/dev/null 2>&1 || fail postgres "the 'postgres' user is missing (the postgresql package creates it)"

mkdir -p "$STATE"
chmod 755 "$STATE"
touch "$LOG" && chown postgres: "$LOG"
install -d -o postgres -g postgres -m 755 "$SOCK"
as_pg() { runuser -u postgres -- "$@"; }

if [ ! -s "$DATA/PG_VERSION" ]; then
  rm -rf "$DATA"
  install -d -o postgres -g postgres -m 700 "$DATA"
  as_pg "$BIN/initdb" -D "$DATA" -U postgres --auth-local=peer --auth-host=scram-sha-256 -E UTF8 \
    >>"$LOG" 2>&1 || fail postgres "initdb failed" "$LOG"
  cat >>"$DATA/postgresql.conf" <<CONF
# finn-dse services (scripts/services/postgres.sh)
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$SOCK'
max_connections = 300
shared_buffers = 64MB
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
fi

if ! as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
  # A session of its own, so Ctrl-C in the terminal that started it does not stop the server.
  as_pg setsid --wait "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start >/dev/null 2>&1 \
    || fail postgres "the server did not start on 127.0.0.1:$PORT (port taken by another program?)" "$LOG"
fi

psql_admin() { as_pg "$BIN/psql" -h "$SOCK" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -Atqc "$1"; }
if [ "$(psql_admin "select 1 from pg_roles where rolname = '$ROLE'" 2>>"$LOG")" != 1 ]; then
  psql_admin "create role $ROLE login createdb password '$ROLE'" >>"$LOG" 2>&1 || fail postgres "cannot create role $ROLE" "$LOG"
fi
if [ "$(psql_admin "select 1 from pg_database where datname = '$ROLE'" 2>>"$LOG")" != 1 ]; then
  psql_admin "create database $ROLE owner $ROLE" >>"$LOG" 2>&1 || fail postgres "cannot create database $ROLE" "$LOG"
fi
login_ok || fail postgres "the server runs but $ROLE cannot log in over TCP at 127.0.0.1:$PORT" "$LOG"
echo "postgres: up at $URL (data $DATA, log $LOG)"
