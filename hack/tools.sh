#!/usr/bin/env bash
# Obtains the binaries the tests and the demo need, without the internet beyond the Go module proxy:
#   kube-apiserver, etcd  (envtest control plane, built from source through the module proxy)
#   minio                 (a real S3 server)
#   terraform             (the one on PATH, else OpenTofu built from the module proxy)
#   kubectl               (`kubectl apply -k` tests, built like kube-apiserver)
#   helm                  (chart render and lint tests)
#   crds/                 (ServiceMonitor and Flux CRDs from their modules, to validate chart and examples)
#   controller-gen        (repo-local bin/, used by `make manifests generate`)
# Binaries are cached outside the repo in $TFSTATE_TOOLS_DIR (default ~/.cache/tfstate-operator/<versions>),
# so reruns are instant. Usage: hack/tools.sh [all|kube-apiserver|kubectl|etcd|minio|terraform|helm|crds|controller-gen|env]
set -euo pipefail

KUBE_VERSION=${KUBE_VERSION:-1.37.2}          # kube-apiserver; staging modules are v0.${minor}.${patch}
ETCD_VERSION=${ETCD_VERSION:-3.5.21}
MINIO_VERSION=${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}
OPENTOFU_VERSION=${OPENTOFU_VERSION:-1.10.10}
CONTROLLER_GEN_VERSION=${CONTROLLER_GEN_VERSION:-v0.23.0}
HELM_VERSION=${HELM_VERSION:-v4.3.1}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS_DIR=${TFSTATE_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tfstate-operator/tools}
mkdir -p "$TOOLS_DIR"

export GOTOOLCHAIN=local
export GOFLAGS=-mod=mod
# The checksum database does not answer for k8s.io staging modules at these versions.
export GONOSUMDB=${GONOSUMDB:+$GONOSUMDB,}k8s.io

log() { echo "[tools] $*" >&2; }

scratch() { local d; d=$(mktemp -d "${TMPDIR:-/tmp}/tfstate-tools.XXXXXX"); echo "$d"; }

# kube_build <command>: builds k8s.io/kubernetes/cmd/<command> at $KUBE_VERSION (kube-apiserver, kubectl).
kube_build() {
  local cmd=$1 out="$TOOLS_DIR/$1-v$KUBE_VERSION"
  if [ ! -x "$out" ]; then
    log "building $cmd v$KUBE_VERSION from the module proxy (about 2-8 minutes)"
    local d staging; d=$(scratch)
    staging="0.${KUBE_VERSION#*.}"
    {
      echo "module scratch/kube"
      echo "go 1.26"
      echo "require k8s.io/kubernetes v$KUBE_VERSION"
      # Every k8s.io staging module is replaced by its published v0.X.Y twin, as kubernetes' go.mod
      # replaces them with ./staging paths that do not exist in the module zip.
      curl -fsSL "$(go env GOPROXY | cut -d, -f1)/k8s.io/kubernetes/@v/v$KUBE_VERSION.mod" \
        | sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#replace \1 => \1 v'"$staging"'#p'
    } >"$d/go.mod"
    (cd "$d" && go mod download k8s.io/kubernetes && go build -trimpath -o "$out.tmp" "k8s.io/kubernetes/cmd/$cmd")
    mv "$out.tmp" "$out"; rm -rf "$d"
  fi
  ln -sf "$(basename "$out")" "$TOOLS_DIR/$cmd"
}

kube_apiserver() { kube_build kube-apiserver; }

# kubectl is built at the apiserver's version rather than taken from PATH, so `kubectl apply -k` in the
# tests behaves the same on every machine.
kubectl() { kube_build kubectl; }

# go_install <name> <package@version> <how long>: a tool `go install` builds from the module proxy,
# cached as <name>-<version>.
go_install() {
  local name=$1 pkg=$2 out="$TOOLS_DIR/$1-${2##*@}"
  if [ ! -x "$out" ]; then
    log "building $pkg from the module proxy ($3)"
    local d; d=$(scratch)
    (GOFLAGS= GOBIN="$d" go install -trimpath "$pkg")
    mv "$d/$name" "$out"; rm -rf "$d"
  fi
  ln -sf "$(basename "$out")" "$TOOLS_DIR/$name"
}

helm() { go_install helm "helm.sh/helm/v4/cmd/helm@$HELM_VERSION" "about 3-5 minutes"; }

etcd() {
  local out="$TOOLS_DIR/etcd-v$ETCD_VERSION"
  if [ ! -x "$out" ]; then
    log "building etcd v$ETCD_VERSION from the module proxy (about 30-60 seconds)"
    local d; d=$(scratch)
    cat >"$d/main.go" <<'GO'
// Command etcd is etcd's own entry point, wrapped so it can be built from the module proxy.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
    printf 'module scratch/etcd\ngo 1.26\nrequire go.etcd.io/etcd/server/v3 v%s\n' "$ETCD_VERSION" >"$d/go.mod"
    (cd "$d" && go mod tidy >/dev/null 2>&1 || true; cd "$d" && go build -trimpath -o "$out.tmp" .)
    mv "$out.tmp" "$out"; rm -rf "$d"
  fi
  ln -sf "$(basename "$out")" "$TOOLS_DIR/etcd"
}

minio() { go_install minio "github.com/minio/minio@$MINIO_VERSION" "about 3-5 minutes"; }

terraform() {
  if [ -n "${TERRAFORM:-}" ] && [ -x "$TERRAFORM" ]; then ln -sf "$TERRAFORM" "$TOOLS_DIR/terraform"; return; fi
  # type -P searches PATH only: `command -v terraform` would find this very function.
  if type -P terraform >/dev/null 2>&1; then ln -sf "$(type -P terraform)" "$TOOLS_DIR/terraform"; return; fi
  if type -P tofu >/dev/null 2>&1; then ln -sf "$(type -P tofu)" "$TOOLS_DIR/terraform"; return; fi
  local out="$TOOLS_DIR/tofu-v$OPENTOFU_VERSION"
  if [ ! -x "$out" ]; then
    log "no terraform on PATH: building OpenTofu v$OPENTOFU_VERSION from the module proxy (several minutes)"
    local d; d=$(scratch)
    # OpenTofu's go.mod carries one replace (its hcl fork); `go install pkg@version` refuses replaces,
    # so build in a scratch module that copies it.
    {
      printf 'module scratch/tofu\ngo 1.26\nrequire github.com/opentofu/opentofu v%s\n' "$OPENTOFU_VERSION"
      curl -fsSL "$(go env GOPROXY | cut -d, -f1)/github.com/opentofu/opentofu/@v/v$OPENTOFU_VERSION.mod" | grep '^replace '
    } >"$d/go.mod"
    (cd "$d" && go mod download github.com/opentofu/opentofu && go build -trimpath -o "$out.tmp" github.com/opentofu/opentofu/cmd/tofu)
    mv "$out.tmp" "$out"; rm -rf "$d"
  fi
  ln -sf "$(basename "$out")" "$TOOLS_DIR/terraform"
}

# fetch_crd <module> <version> <path in module>: a third-party CRD, taken from its project's module on the
# proxy (checksum-verified), for the tests that validate the chart's and examples' objects against it.
fetch_crd() {
  local out="$TOOLS_DIR/crds/$(basename "$3")"
  [ -s "$out" ] && return
  mkdir -p "$TOOLS_DIR/crds"
  local d dir; d=$(scratch)
  dir=$(cd "$d" && go mod download -json "$1@$2" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  rm -rf "$d"
  cp "$dir/$3" "$out.tmp" && chmod 644 "$out.tmp" && mv "$out.tmp" "$out"
}

crds() {
  fetch_crd github.com/prometheus-operator/prometheus-operator v0.85.0 example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml
  fetch_crd github.com/fluxcd/helm-controller v1.4.0 config/crd/bases/helm.toolkit.fluxcd.io_helmreleases.yaml
  fetch_crd github.com/fluxcd/source-controller v1.8.0 config/crd/bases/source.toolkit.fluxcd.io_gitrepositories.yaml
}

controller_gen() {
  local out="$ROOT/bin/controller-gen"
  if [ ! -x "$out" ] || ! "$out" --version 2>/dev/null | grep -q "$CONTROLLER_GEN_VERSION"; then
    log "installing controller-gen $CONTROLLER_GEN_VERSION"
    mkdir -p "$ROOT/bin"
    GOFLAGS= GOBIN="$ROOT/bin" go install "sigs.k8s.io/controller-tools/cmd/controller-gen@$CONTROLLER_GEN_VERSION"
  fi
}

print_env() {
  echo "export KUBEBUILDER_ASSETS=$TOOLS_DIR"
  echo "export TFSTATE_TOOLS_DIR=$TOOLS_DIR"
  echo "export MINIO_BIN=$TOOLS_DIR/minio"
  echo "export TFSTATE_TERRAFORM=$TOOLS_DIR/terraform"
  echo "export TFSTATE_HELM=$TOOLS_DIR/helm"
  echo "export TFSTATE_KUBECTL=$TOOLS_DIR/kubectl"
}

case "${1:-all}" in
  kube-apiserver) kube_apiserver ;;
  etcd) etcd ;;
  minio) minio ;;
  terraform) terraform ;;
  kubectl) kubectl ;;
  helm) helm ;;
  crds) crds ;;
  controller-gen) controller_gen ;;
  env) print_env ;;
  all) controller_gen; crds; etcd; terraform; helm; minio; kube_apiserver; kubectl ;;
  *) echo "usage: $0 [all|kube-apiserver|kubectl|etcd|minio|terraform|helm|crds|controller-gen|env]" >&2; exit 2 ;;
esac
