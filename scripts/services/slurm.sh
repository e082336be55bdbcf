#!/usr/bin/env bash
# A single-node Slurm 22.05 cluster on this machine, with accounting (sacct), for
# `finn-dse launch --slurm` and its tests. Idempotent: a quick check (under a second) when it is
# already up. Installs the Debian packages it needs when they are missing (slurmctld slurmd
# slurm-client slurmdbd munge mariadb-server), then starts, without systemd:
#   munged      as the munge user (authentication)
#   mariadbd    its own data directory, no TCP (--skip-networking), the accounting database
#   slurmdbd    accounting daemon, bound to 127.0.0.1:6819 (through the bind_loopback.c shim)
#   slurmctld   controller on 127.0.0.1:6817;  slurmd: the one node (`hostname -s`) on 127.0.0.1:6818
# with partition `debug` holding every CPU of the machine. Needs root.
#
# It owns /etc/slurm/slurm.conf and /etc/slurm/slurmdbd.conf (first line says so) and refuses
# to touch configuration files that it did not write: on a real cluster, use that cluster.
# Settings (environment, optional): FINN_DSE_SERVICES_DIR state directory [/var/tmp/finn-dse-services];
# state, spool and logs go to its slurm/ and mariadb/ folders.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/common.sh"

S=$STATE/slurm
LOGS=$S/log
DB=$STATE/mariadb
DBSOCK=/run/mysqld/mysqld.sock
DBPID=/run/mysqld/finn-dse-mariadb.pid
SHIM=$S/bind_loopback.so
CONF=/etc/slurm/slurm.conf
DBDCONF=/etc/slurm/slurmdbd.conf
MARK="# finn-dse services: written by scripts/services/slurm.sh (rewritten on every run)"
CLUSTER=finndse
HOST=$(hostname -s)

node_state() { sinfo -h -N -n "$HOST" -o %T 2>/dev/null | head -n 1; }
accounting_ok() { sacctmgr -n -P show cluster "$CLUSTER" format=cluster 2>/dev/null | grep -qx "$CLUSTER"; }
munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
db_ok() { mariadb-admin --no-defaults --socket="$DBSOCK" -uroot ping >/dev/null 2>&1; }
ours() { [ ! -e "$1" ] || [ ! -r "$1" ] || head -n 1 "$1" | grep -qxF "$MARK"; }  # unreadable: root checks it

write_if_changed() {  # write_if_changed FILE MODE: stdin -> FILE; status 0 if it changed
  local tmp; tmp=$(mktemp)
  cat >"$tmp"
  if [ -f "$1" ] && cmp -s "$tmp" "$1"; then rm -f "$tmp"; return 1; fi
  install -m "$2" "$tmp" "$1"; rm -f "$tmp"
}

stop_pidfile() {  # stop_pidfile PIDFILE: SIGTERM, wait up to 15 s
  pid_alive "$1" || return 0
  local pid; pid=$(cat "$1")
  kill "$pid" 2>/dev/null || true
  wait_until 15 bash -c "! kill -0 $pid" || kill -9 "$pid" 2>/dev/null || true
}

slurm_conf() {
  local node
  # The node as slurmd sees it (CPUs, sockets, cores, threads); memory a little under the total.
  node=$(slurmd -C 2>/dev/null | head -n 1) || true
  [ -n "$node" ] || fail slurm "'slurmd -C' printed nothing: cannot describe this node"
  local mem; mem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$node")
  node=$(sed -e "s/RealMemory=[0-9]*/RealMemory=$(( mem * 9 / 10 ))/" -e "s/^NodeName=[^ ]*/NodeName=$HOST NodeAddr=127.0.0.1/" <<<"$node")
  cat <<CONF
$MARK
ClusterName=$CLUSTER
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmctldPort=6817
SlurmdPort=6818
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
AuthType=auth/munge
StateSaveLocation=$S/ctld
SlurmdSpoolDir=$S/d
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
MpiDefault=none
KillWait=5
InactiveLimit=0
MinJobAge=300
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=6819
JobCompType=jobcomp/none
$node State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
}

dbd_conf() {
  cat <<CONF
$MARK
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=root
LogFile=$LOGS/slurmdbd.log
PidFile=$S/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
CONF
}

# Fast path: every daemon answers and the configuration is the one this script writes.
if command -v sinfo >/dev/null 2>&1 && ours "$CONF" && ours "$DBDCONF" && [ -f "$CONF" ] \
   && pid_alive "$S/slurmctld.pid" && pid_alive "$S/slurmd.pid" && pid_alive "$S/slurmdbd.pid" \
   && cmp -s "$CONF" <(slurm_conf) && { [ ! -r "$DBDCONF" ] || cmp -s "$DBDCONF" <(dbd_conf); } \
   && [[ "$(node_state)" =~ ^(idle|mixed|allocated|completing)$ ]] && accounting_ok; then
  echo "slurm: up, node $HOST $(node_state), partition debug, accounting on (logs $LOGS)"
  exit 0
fi

need_root slurm "run a single-node Slurm cluster"
ours "$CONF" || fail slurm "$CONF exists and was not written by this script: this machine already has a Slurm configuration; use that cluster (finn-dse launch --profile) instead of a test one"
ours "$DBDCONF" || fail slurm "$DBDCONF exists and was not written by this script; refusing to replace it"
pkgs=(slurmctld slurmd slurm-client slurmdbd munge mariadb-server)
command -v gcc >/dev/null 2>&1 || pkgs+=(gcc libc6-dev)
apt_install slurm "${pkgs[@]}"
mkdir -p "$S/ctld" "$S/d" "$LOGS" /etc/slurm
chmod 755 "$STATE"

# munge: the key is made by the package; /run/munge is normally made by systemd.
if ! munge_ok; then
  [ -s /etc/munge/munge.key ] || { mungekey --create --keyfile=/etc/munge/munge.key 2>>"$LOGS/munged.log" \
    || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 2>/dev/null; }
  chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
  install -d -o munge -g munge -m 755 /run/munge
  install -d -o munge -g munge -m 700 /var/log/munge /var/lib/munge 2>/dev/null || true
  runuser -u munge -- setsid /usr/sbin/munged --force >>"$LOGS/munged.log" 2>&1 \
    || fail slurm "munged did not start" "/var/log/munge/munged.log"
  wait_until 15 munge_ok || fail slurm "munge does not answer (munge -n | unmunge)" "/var/log/munge/munged.log"
fi

# MariaDB for slurmdbd: own data directory, unix socket only.
if ! db_ok; then
  [ -e "$DBSOCK" ] && ! pid_alive "$DBPID" && rm -f "$DBSOCK"
  if [ ! -d "$DB/mysql" ]; then
    rm -rf "$DB"; install -d -o mysql -g mysql -m 700 "$DB"
    mariadb-install-db --no-defaults --user=mysql --datadir="$DB" --auth-root-authentication-method=socket \
      --skip-test-db >"$LOGS/mariadb-install.log" 2>&1 || fail slurm "mariadb-install-db failed" "$LOGS/mariadb-install.log"
  fi
  install -d -o mysql -g mysql -m 755 /run/mysqld
  touch "$LOGS/mariadb.log"; chown mysql: "$LOGS/mariadb.log"
  setsid mariadbd --no-defaults --user=mysql --datadir="$DB" --socket="$DBSOCK" --pid-file="$DBPID" \
    --skip-networking --log-error="$LOGS/mariadb.log" --innodb-buffer-pool-size=64M \
    --innodb-lock-wait-timeout=900 </dev/null >/dev/null 2>&1 &
  wait_until 60 db_ok || fail slurm "mariadbd did not start" "$LOGS/mariadb.log"
fi
mariadb --no-defaults --socket="$DBSOCK" -uroot -e "create database if not exists slurm_acct_db;
  create user if not exists 'slurm'@'localhost' identified by 'slurm';
  grant all on slurm_acct_db.* to 'slurm'@'localhost';" 2>>"$LOGS/mariadb.log" \
  || fail slurm "cannot create the accounting database" "$LOGS/mariadb.log"

# Configuration; a changed file restarts the daemons that read it.
restart_ctl=0; restart_dbd=0
slurm_conf | write_if_changed "$CONF" 644 && restart_ctl=1
dbd_conf | write_if_changed "$DBDCONF" 600 && restart_dbd=1
if [ ! -x "$SHIM" ] || [ "$HERE/bind_loopback.c" -nt "$SHIM" ]; then
  gcc -shared -fPIC -O2 -o "$SHIM" "$HERE/bind_loopback.c" -ldl 2>"$LOGS/shim.log" \
    || fail slurm "cannot build the bind-to-loopback shim for slurmdbd" "$LOGS/shim.log"
  restart_dbd=1
fi

if [ $restart_dbd = 1 ] || ! pid_alive "$S/slurmdbd.pid"; then
  stop_pidfile "$S/slurmdbd.pid"
  LD_PRELOAD=$SHIM setsid slurmdbd >>"$LOGS/slurmdbd.log" 2>&1 || fail slurm "slurmdbd did not start" "$LOGS/slurmdbd.log"
fi
wait_until 30 sacctmgr -n show cluster || fail slurm "slurmdbd does not answer on 127.0.0.1:6819" "$LOGS/slurmdbd.log"
accounting_ok || sacctmgr -i add cluster "$CLUSTER" >>"$LOGS/slurmdbd.log" 2>&1 \
  || fail slurm "cannot register cluster $CLUSTER in the accounting database" "$LOGS/slurmdbd.log"

if [ $restart_ctl = 1 ]; then
  stop_pidfile "$S/slurmd.pid"; stop_pidfile "$S/slurmctld.pid"
fi
if ! pid_alive "$S/slurmctld.pid"; then
  setsid slurmctld >>"$LOGS/slurmctld.log" 2>&1 || fail slurm "slurmctld did not start" "$LOGS/slurmctld.log"
fi
wait_until 30 scontrol ping || fail slurm "slurmctld does not answer on 127.0.0.1:6817" "$LOGS/slurmctld.log"
if ! pid_alive "$S/slurmd.pid"; then
  setsid slurmd >>"$LOGS/slurmd.log" 2>&1 || fail slurm "slurmd did not start" "$LOGS/slurmd.log"
fi

node_ready() { [[ "$(node_state)" =~ ^(idle|mixed|allocated|completing)$ ]]; }
if ! wait_until 30 node_ready; then
  # A node left down or drained by an earlier unclean stop: put it back in service once.
  scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true
  wait_until 15 node_ready || fail slurm "node $HOST is '$(node_state)', not idle" "$LOGS/slurmd.log"
fi
wait_until 15 accounting_ok || fail slurm "accounting (sacct) is not working" "$LOGS/slurmdbd.log"
echo "slurm: up, node $HOST $(node_state), partition debug, accounting on (logs $LOGS)"
