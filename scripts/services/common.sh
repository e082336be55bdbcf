# Shared helpers of the service scripts (sourced, not run). Settings, all optional:
#   FINN_DSE_SERVICES_DIR  where data, logs and pid files live [/var/tmp/finn-dse-services]
STATE=${FINN_DSE_SERVICES_DIR:-/var/tmp/finn-dse-services}

fail() {  # fail SERVICE MESSAGE [LOG]: one line on stderr, exit 1
  local log=${3:-}
  echo "$1: FAILED: $2${log:+ (log: $log)}" >&2
  if [ -n "$log" ] && [ -f "$log" ]; then
    echo "--- last lines of $log:" >&2
    tail -n 15 "$log" >&2 || true
  fi
  exit 1
}

need_root() {  # need_root SERVICE WHAT [HINT]
  if [ "$(id -u)" -ne 0 ]; then
    fail "$1" "must run as root to $2 (it installs Debian packages and starts daemons as their own users); run it with sudo${3:+, $3}"
  fi
}

apt_install() {  # apt_install SERVICE PACKAGE...: install what is missing, with Debian's apt
  local svc=$1; shift
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null 2>&1 || fail "$svc" "needs Debian packages ${missing[*]} but apt-get is not available; install them with your system's package manager"
  need_root "$svc" "install ${missing[*]}"
  echo "$svc: installing ${missing[*]} (apt-get)..." >&2
  mkdir -p "$STATE"
  local log=$STATE/apt.log
  export DEBIAN_FRONTEND=noninteractive
  # Other processes may hold the dpkg lock for a while (unattended installs, parallel set-ups).
  apt-get -o DPkg::Lock::Timeout=600 update -qq >>"$log" 2>&1 || fail "$svc" "apt-get update failed" "$log"
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >>"$log" 2>&1 \
    || fail "$svc" "apt-get install ${missing[*]} failed" "$log"
}

wait_until() {  # wait_until SECONDS COMMAND...: poll every 0.1 s
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -ge "$deadline" ] && return 1
    sleep 0.1
  done
}

pid_alive() {  # pid_alive PIDFILE (any user may ask: no signal sent)
  local pid
  pid=$(cat "$1" 2>/dev/null) && [ -n "$pid" ] && [ -d "/proc/$pid" ]
}
