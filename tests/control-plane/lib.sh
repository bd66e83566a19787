# shellcheck shell=bash
# Shared settings and helpers for tests/control-plane/{up,down,smoke,restart-apiserver}.
# Sourced, not executed.

CP_HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CP_CACHE="${RUNPLANE_CONTROL_PLANE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/runplane/control-plane}"
CP_DIR="${RUNPLANE_CONTROL_PLANE_DIR:-$CP_CACHE/run}"
CP_TIMEOUT="${RUNPLANE_CONTROL_PLANE_TIMEOUT:-180}"
# Components in start order; `down` stops them in reverse.
CP_COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok workflow-controller)

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

# cp_stop <component> [grace]: SIGTERM, wait up to grace seconds (default 15), then SIGKILL.
cp_stop() {
  local c="$1" grace="${2:-15}" pid i
  if pid="$(cp_pid "$c")"; then
    cp_log "stopping $c (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      cp_log "$c did not exit after ${grace}s, killing"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$CP_DIR/pids/$c.pid"
}

# cp_load_ports: API_PORT, ETCD_PORT, ETCD_PEER_PORT, KWOK_PORT of the run dir (when known).
cp_load_ports() { [[ -f "$CP_DIR/ports.env" ]] && source "$CP_DIR/ports.env"; true; }

# cp_start <component> <args...>: starts $CP_DIR/bin/<component> in its own session,
# appending to logs/<component>.log, and records its pid. fd 8 (the lock) is not inherited.
cp_start() {
  local c="$1"; shift
  echo "=== $(date -u +%FT%TZ) starting: $CP_DIR/bin/$c $*" >>"$CP_DIR/logs/$c.log"
  setsid "$CP_DIR/bin/$c" "$@" </dev/null >>"$CP_DIR/logs/$c.log" 2>&1 8>&- &
  echo $! >"$CP_DIR/pids/$c.pid"
  cp_log "started $c (pid $!, log $CP_DIR/logs/$c.log)"
}

# cp_fail_with_log <component> <message>: prints the message and the component's last log lines, exits 1.
cp_fail_with_log() {
  cp_log "$2; last lines of $CP_DIR/logs/$1.log:"
  tail -n 30 "$CP_DIR/logs/$1.log" >&2 || true
  exit 1
}

# cp_wait_for <component> <description> <command...>: polls the command until it succeeds;
# fails when the component dies or after $CP_TIMEOUT seconds.
cp_wait_for() {
  local c="$1" what="$2"; shift 2
  local deadline=$((SECONDS + CP_TIMEOUT))
  until "$@" >/dev/null 2>&1; do
    cp_pid "$c" >/dev/null || cp_fail_with_log "$c" "$c exited while waiting for $what"
    ((SECONDS < deadline)) || cp_fail_with_log "$c" "timed out after ${CP_TIMEOUT}s waiting for $what"
    sleep 0.2
  done
}

# cp_api_ready: whether kube-apiserver answers /readyz with ok.
cp_api_ready() {
  [[ "$(curl -sS --max-time 5 --cacert "$CP_DIR/pki/ca.crt" --cert "$CP_DIR/pki/admin.crt" \
    --key "$CP_DIR/pki/admin.key" "https://127.0.0.1:${API_PORT}/readyz" 2>/dev/null)" == ok ]]
}

# cp_start_apiserver: starts kube-apiserver on the run dir's state and waits for /readyz.
# It reaches the kwok "kubelets" (pod logs) at the nodes' InternalIP, verifying kwok's
# serving certificate with the test CA. Delete requests are audited to logs/audit.log (so
# tests can tell who deleted what: Runplane or the garbage collector), and so are the
# test user's patches of Jobs and ConfigMaps (so a test can count a host's applies).
# Pod Security admission is named explicitly (it is on by default since v1.25): a
# namespace labelled pod-security.kubernetes.io/enforce=restricted refuses pods that break
# the profile, which the cluster tests use to prove the host's guard at least as strict
# (the namespaces a Runplane host creates carry that label). Unlabelled namespaces stay
# privileged, so the smoke test's plain pods keep running.
cp_start_apiserver() {
  local pki="$CP_DIR/pki"
  cp_start kube-apiserver \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 \
    --secure-port="$API_PORT" \
    --tls-cert-file="$pki/apiserver.crt" \
    --tls-private-key-file="$pki/apiserver.key" \
    --client-ca-file="$pki/ca.crt" \
    --kubelet-client-certificate="$pki/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$pki/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority="$pki/ca.crt" \
    --kubelet-preferred-address-types=InternalIP \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$pki/sa.pub" \
    --service-account-signing-key-file="$pki/sa.key" \
    --service-cluster-ip-range=10.96.0.0/16 \
    --authorization-mode=Node,RBAC \
    --enable-admission-plugins=NodeRestriction,PodSecurity \
    --allow-privileged=true \
    --audit-policy-file="$CP_HERE/audit-policy.yaml" \
    --audit-log-path="$CP_DIR/logs/audit.log" \
    --audit-log-format=json \
    --audit-log-maxsize=50 \
    --audit-log-maxbackup=1 \
    --profiling=false \
    --event-ttl=1h
  cp_wait_for kube-apiserver "/readyz" cp_api_ready
}

# cp_fingerprint: hash of everything a running plane was started from besides the
# binaries (scripts, stages, audit policy, simulated logs), so `up` restarts a plane
# started by older scripts.
cp_fingerprint() {
  (cd "$CP_HERE" && find up lib.sh audit-policy.yaml argo-config.yaml stages container-logs -type f | LC_ALL=C sort \
    | xargs sha256sum) | sha256sum | cut -c1-16
}
