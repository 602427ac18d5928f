#!/usr/bin/env bash
# k8s-cluster.sh - the loopback Kubernetes control plane of arkserve's tests and benchmarks:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler and KWOK (a fake kubelet that marks
# pods Ready without running anything) with one fake node, all on 127.0.0.1.
#
#   scripts/k8s-cluster.sh build   build the binaries into $ARKSERVE_K8S_CACHE/bin (once; from the Go module proxy)
#   scripts/k8s-cluster.sh up      build if needed, start, print "export KUBECONFIG=... PATH=..."
#   scripts/k8s-cluster.sh down    stop what "up" started (by the PIDs it recorded)
#
# ARKSERVE_K8S_CACHE (default /var/cache/arkserve/k8s) keeps the binaries between runs: a cold build
# takes about 11 minutes on 2 cores, a start 4 s. The run state (kubeconfig, certificates, etcd
# data, pids) is in $ARKSERVE_K8S_CACHE/run, logs in $ARKSERVE_K8S_CACHE/logs.
# Ports: ARKSERVE_K8S_APISERVER_PORT (6443), ARKSERVE_K8S_ETCD_PORT (2379, and the next one for peers).
# Pods need a toleration for the kwok.x-k8s.io/node taint (arkserve's Deployments carry one when
# the server runs with --kubernetes-tolerate-kwok). Pods of the image arkserve.invalid/unpullable:1
# never become Ready (k8s/kwok-image-pull-failed.yaml).
set -euo pipefail
K8S_VERSION=1.36.3                  # k8s.io/kubernetes; its staging modules are v0.36.3 (client-go in go.mod)
KWOK_VERSION=0.8.0
CACHE=${ARKSERVE_K8S_CACHE:-/var/cache/arkserve/k8s}
PORT=${ARKSERVE_K8S_APISERVER_PORT:-6443}
ETCD_PORT=${ARKSERVE_K8S_ETCD_PORT:-2379}
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=$CACHE/bin RUN=$CACHE/run LOG=$CACHE/logs
PIDS=$RUN/pids
UNPULLABLE='arkserve.invalid/unpullable:1'
GRACEFUL='arkserve.invalid/graceful:1'
UNREADY='arkserve.invalid/unready:1'

build() {
  if [[ -x $BIN/kube-apiserver && -x $BIN/etcd && -x $BIN/kwok && -x $BIN/kubectl && -x $BIN/kube-scheduler \
        && -x $BIN/kube-controller-manager && -d $BIN/kwok-stages ]]; then return; fi
  mkdir -p "$BIN" "$CACHE/mod"
  cd "$CACHE/mod"
  # A module that requires k8s.io/kubernetes, whose go.mod pins its staging modules to v0.0.0
  # (replaced by the staging folders in its repository): replace them with the released v0.x.y.
  local sv=v0.${K8S_VERSION#1.} minor=${K8S_VERSION#1.}; minor=${minor%%.*}
  local kmod; kmod=$(cd / && go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  { echo "module arkserve.local/k8sbins"; echo; grep '^go ' "$kmod"; echo; echo "require k8s.io/kubernetes v$K8S_VERSION"; echo
    echo "replace ("; grep -E '^\s+k8s\.io/\S+ v0\.0\.0$' "$kmod" | awk -v v="$sv" '{print "\t" $1 " => " $1 " " v}'; echo ")"; } > go.mod
  cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  go mod tidy
  local ldf="-s -w" p
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldf+=" -X $p.gitVersion=v$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  [[ -x $BIN/kube-apiserver && -x $BIN/kubectl && -x $BIN/kube-scheduler && -x $BIN/kube-controller-manager ]] ||
    go build -trimpath -ldflags "$ldf" -o "$BIN/" k8s.io/kubernetes/cmd/kube-apiserver \
      k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
  [[ -x $BIN/etcd ]] || go build -trimpath -ldflags "-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3
  [[ -x $BIN/kwok ]] || GOBIN=$BIN go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION"
  # KWOK's own stages ship in its module: node initialisation and heartbeat, pods Ready at once.
  local kd; kd=$(cd / && go mod download -json "sigs.k8s.io/kwok@v$KWOK_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  mkdir -p "$BIN/kwok-stages.tmp"
  cp "$kd"/kustomize/stage/node/fast/node-initialize.yaml "$kd"/kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
     "$kd"/kustomize/stage/pod/fast/pod-*.yaml "$BIN/kwok-stages.tmp/"
  chmod -R u+w "$BIN/kwok-stages.tmp"
  mv "$BIN/kwok-stages.tmp" "$BIN/kwok-stages"
}

wait_for() {
  local what=$1; shift
  for _ in $(seq 1 120); do if "$@" >/dev/null 2>&1; then return 0; fi; sleep 0.5; done
  echo "k8s-cluster: timeout waiting for $what (logs in $LOG)" >&2; return 1
}

# except FILE IMAGE... prints KWOK stage file $1 with one more selector: pods whose first
# container runs one of the images are not its business.
except() {
  local f=$1; shift
  local imgs; imgs=$(printf "'%s', " "$@"); imgs=${imgs%, }
  awk -v imgs="$imgs" '{print} /^    matchExpressions:$/ && !done {
    print "    - key: '"'"'.spec.containers.[0].image'"'"'"; print "      operator: '"'"'NotIn'"'"'"
    print "      values: [" imgs "]"; done=1}' "$f"
}

# stages writes KWOK's configuration: its fast stages, with the pod-ready stage keeping away from
# the unpullable and unready images and the pod-delete stage from the graceful one, and arkserve's
# stages for those images.
stages() {
  local f
  for f in "$BIN"/kwok-stages/*.yaml; do
    echo "---"
    case $(basename "$f") in
      pod-ready.yaml) except "$f" "$UNPULLABLE" "$UNREADY" ;;
      pod-delete.yaml) except "$f" "$GRACEFUL" ;;
      *) cat "$f" ;;
    esac
  done
  echo "---"; cat "$HERE/k8s/kwok-image-pull-failed.yaml"
  echo "---"; cat "$HERE/k8s/kwok-pod-delete-graceful.yaml"
  echo "---"; cat "$HERE/k8s/kwok-pod-unready.yaml"
}

up() {
  ( build ) >"$LOG/build.log" 2>&1 || { tail -30 "$LOG/build.log" >&2; exit 1; }
  if [[ -s $PIDS ]]; then down; fi
  mkdir -p "$RUN"; cd "$RUN"
  [[ -f sa.key ]] || { openssl genrsa -out sa.key 2048 2>/dev/null; openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null; }
  local token; token=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
  echo "$token,admin,admin-uid,\"system:masters\"" > tokens.csv
  cat > kubeconfig <<KC
apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: "https://127.0.0.1:$PORT", insecure-skip-tls-verify: true}}]
users: [{name: admin, user: {token: "$token"}}]
contexts: [{name: local, context: {cluster: local, user: admin}}]
current-context: local
KC
  stages > kwok-stages.yaml
  rm -rf "$RUN/etcd"; : > "$PIDS"   # a fresh cluster every time
  "$BIN/etcd" --data-dir="$RUN/etcd" --listen-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" --listen-peer-urls="http://127.0.0.1:$((ETCD_PORT+1))" \
    --initial-advertise-peer-urls="http://127.0.0.1:$((ETCD_PORT+1))" --initial-cluster="default=http://127.0.0.1:$((ETCD_PORT+1))" \
    --unsafe-no-fsync --log-level=warn >"$LOG/etcd.log" 2>&1 & echo $! >> "$PIDS"
  wait_for etcd curl -sf "http://127.0.0.1:$ETCD_PORT/health"
  "$BIN/kube-apiserver" --etcd-servers="http://127.0.0.1:$ETCD_PORT" --bind-address=127.0.0.1 --advertise-address=127.0.0.1 \
    --secure-port="$PORT" --cert-dir="$RUN/certs" --service-cluster-ip-range=10.96.0.0/16 \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$RUN/sa.pub" --service-account-signing-key-file="$RUN/sa.key" \
    --token-auth-file="$RUN/tokens.csv" --authorization-mode=AlwaysAllow \
    >"$LOG/kube-apiserver.log" 2>&1 & echo $! >> "$PIDS"
  wait_for kube-apiserver sh -c "curl -skf -H 'Authorization: Bearer $token' https://127.0.0.1:$PORT/readyz | grep -q ok"
  # A long node-monitor grace period: on a loaded machine KWOK's heartbeats come late, and a node
  # marked NotReady has its pods marked not ready, which KWOK's stages never undo.
  "$BIN/kube-controller-manager" --kubeconfig="$RUN/kubeconfig" --secure-port=0 --leader-elect=false \
    --node-monitor-grace-period=10m \
    --service-account-private-key-file="$RUN/sa.key" --root-ca-file="$RUN/certs/apiserver.crt" \
    >"$LOG/kube-controller-manager.log" 2>&1 & echo $! >> "$PIDS"
  "$BIN/kube-scheduler" --kubeconfig="$RUN/kubeconfig" --secure-port=0 --leader-elect=false \
    >"$LOG/kube-scheduler.log" 2>&1 & echo $! >> "$PIDS"
  "$BIN/kwok" --kubeconfig="$RUN/kubeconfig" --config="$RUN/kwok-stages.yaml" --manage-all-nodes=false \
    --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake --node-ip=10.0.0.1 --cidr=10.244.0.0/16 \
    --server-address=127.0.0.1:0 >"$LOG/kwok.log" 2>&1 & echo $! >> "$PIDS"
  export KUBECONFIG=$RUN/kubeconfig
  "$BIN/kubectl" apply -f - >/dev/null <<'NODE'
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-0
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}
  labels: {kubernetes.io/hostname: kwok-node-0, kubernetes.io/os: linux, kubernetes.io/arch: amd64, type: kwok}
spec:
  taints: [{key: kwok.x-k8s.io/node, value: fake, effect: NoSchedule}]
status:
  allocatable: {cpu: "32", memory: 256Gi, pods: "110", nvidia.com/gpu: "8"}
  capacity: {cpu: "32", memory: 256Gi, pods: "110", nvidia.com/gpu: "8"}
NODE
  wait_for "node Ready" "$BIN/kubectl" wait --for=condition=Ready node/kwok-node-0 --timeout=1s
  wait_for "default ServiceAccount" "$BIN/kubectl" -n default get serviceaccount default
  echo "export KUBECONFIG=$RUN/kubeconfig PATH=$BIN:\$PATH"
}

down() {
  [[ -f $PIDS ]] || return 0
  local pid
  tac "$PIDS" | while read -r pid; do kill "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 20); do
    local alive=0
    while read -r pid; do kill -0 "$pid" 2>/dev/null && alive=1; done < "$PIDS"
    [[ $alive == 0 ]] && break; sleep 0.25
  done
  while read -r pid; do kill -9 "$pid" 2>/dev/null || true; done < "$PIDS"
  rm -f "$PIDS"
}

mkdir -p "$LOG"
case ${1:-} in
  build) ( build ) >"$LOG/build.log" 2>&1 || { tail -30 "$LOG/build.log" >&2; exit 1; } ;;
  up) up ;;
  down) down ;;
  *) echo "usage: $0 build|up|down" >&2; exit 2 ;;
esac
