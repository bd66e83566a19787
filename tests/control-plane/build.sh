#!/usr/bin/env bash
# Builds (if missing) the control-plane binaries from upstream Go modules and
# prints the absolute bin directory as the last line of stdout.
#
#   etcd                      go.etcd.io/etcd/server/v3       (build/etcd)
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubectl
#                             k8s.io/kubernetes               (build/k8s)
#   kwok                      sigs.k8s.io/kwok                (build/kwok)
#   workflow-controller       github.com/argoproj/argo-workflows/v3 (build/argo), and
#                             that module's full CRDs, copied to <bin>/../argo-crds/
#
# The bin dir is ${RUNPLANE_CONTROL_PLANE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/runplane/control-plane}/
#   <k8s-version>-<sha256 of build/**>/bin, so a second run builds nothing.
# Env: RUNPLANE_GO (go binary), RUNPLANE_GO_PARALLEL (go build -p, default 2).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
K8S_VERSION=v1.37.2
K8S_MAJOR=1
K8S_MINOR=37

log() { printf '[control-plane build] %s\n' "$*" >&2; }

GO="${RUNPLANE_GO:-}"
if [[ -z "$GO" ]]; then
  if command -v go >/dev/null 2>&1; then GO="$(command -v go)";
  elif [[ -x /usr/local/go/bin/go ]]; then GO=/usr/local/go/bin/go;
  else echo "go toolchain not found (set RUNPLANE_GO)" >&2; exit 1; fi
fi
PAR="${RUNPLANE_GO_PARALLEL:-2}"

hash_inputs() {
  (cd "$HERE" && find build -type f \( -name go.mod -o -name go.sum -o -name '*.go' \) | LC_ALL=C sort \
    | xargs sha256sum; echo "$K8S_VERSION") | sha256sum | cut -c1-12
}

CACHE_ROOT="${RUNPLANE_CONTROL_PLANE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/runplane/control-plane}"
OUT="$CACHE_ROOT/$K8S_VERSION-$(hash_inputs)"
BIN="$OUT/bin"
mkdir -p "$BIN"

# Serialise concurrent builds (several `up`s started at once).
exec 9>"$OUT/.build.lock"
flock 9

export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false"
LDFLAGS_BASE='-s -w'

# build <module dir> <binary names...> -- <packages...>
build() {
  local dir="$1"; shift
  local names=() pkgs=() missing=0
  while [[ "$1" != "--" ]]; do names+=("$1"); shift; done; shift
  pkgs=("$@")
  for n in "${names[@]}"; do [[ -x "$BIN/$n" ]] || missing=1; done
  if [[ $missing == 0 ]]; then log "$dir: up to date (${names[*]})"; return; fi
  local tmp; tmp="$(mktemp -d "$OUT/.tmp.XXXXXX")"
  local ld="$LDFLAGS_BASE"
  if [[ "$dir" == k8s ]]; then
    local bd; bd="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ld+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=$K8S_MAJOR -X $p.gitMinor=$K8S_MINOR"
      ld+=" -X $p.gitTreeState=clean -X $p.buildDate=$bd"
    done
  fi
  log "$dir: building ${names[*]} (go build -p $PAR) ..."
  local t0=$SECONDS
  (cd "$HERE/build/$dir" && "$GO" build -p "$PAR" -trimpath -ldflags="$ld" -o "$tmp/" "${pkgs[@]}") >&2
  for n in "${names[@]}"; do mv -f "$tmp/$n" "$BIN/$n"; done
  rm -rf "$tmp"
  log "$dir: built in $((SECONDS - t0))s"
}

build etcd etcd -- ./cmd/etcd
build k8s kube-apiserver kube-controller-manager kube-scheduler kubectl -- \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
build kwok kwok -- sigs.k8s.io/kwok/cmd/kwok
build argo workflow-controller -- github.com/argoproj/argo-workflows/v3/cmd/workflow-controller

# The Argo CRDs of the very module the controller was built from (the full ones, with
# their schemas, so that a server-side dry-run validates a Workflow's spec).
CRDS="$OUT/argo-crds"
if [[ ! -f "$CRDS/argoproj.io_workflows.yaml" ]]; then
  argo_dir="$(cd "$HERE/build/argo" && "$GO" list -m -f '{{.Dir}}' github.com/argoproj/argo-workflows/v3)"
  mkdir -p "$CRDS.tmp"
  cp "$argo_dir"/manifests/base/crds/full/argoproj.io_*.yaml "$CRDS.tmp/"
  chmod u+w "$CRDS.tmp"/*.yaml
  rm -rf "$CRDS"; mv "$CRDS.tmp" "$CRDS"
  log "argo: CRDs copied from $argo_dir"
fi

echo "$BIN"
