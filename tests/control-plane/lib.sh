# shellcheck shell=bash
# Shared settings for tests/control-plane/{up,down,smoke}. Sourced, not executed.

CP_HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CP_CACHE="${RUNPLANE_CONTROL_PLANE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/runplane/control-plane}"
CP_DIR="${RUNPLANE_CONTROL_PLANE_DIR:-$CP_CACHE/run}"
# Components in start order; `down` stops them in reverse.
CP_COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)

cp_log() { printf '[control-plane] %s\n' "$*" >&2; }
cp_die() { cp_log "ERROR: $*"; exit 1; }

# Absolute, normalised run dir (kubeconfig paths printed to callers must be absolute).
cp_abs_dir() {
  mkdir -p "$CP_DIR"
  CP_DIR="$(cd "$CP_DIR" && pwd -P)"
}

# cp_pid <component>: prints the pid if the component recorded in the run dir is alive.
cp_pid() {
  local f="$CP_DIR/pids/$1.pid" pid
  [[ -f "$f" ]] || return 1
  pid="$(<"$f")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # Guard against pid reuse: the process must run our binary for this component.
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "/$1 " || return 1
  echo "$pid"
}

# cp_stop <component>: SIGTERM, wait up to 15s, then SIGKILL.
cp_stop() {
  local c="$1" pid i
  if pid="$(cp_pid "$c")"; then
    cp_log "stopping $c (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      cp_log "$c did not exit after 15s, killing"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$CP_DIR/pids/$c.pid"
}
