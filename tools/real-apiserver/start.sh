#!/usr/bin/env bash
# Starts a real etcd and kube-apiserver on 127.0.0.1 (free ports, data in a temporary folder) in
# the foreground, with generated certificates, RBAC, and an admin identity; writes an admin
# kubeconfig to KUBECONFIG_PATH once /readyz is ok. Ctrl-C or SIGTERM stops both, removes the
# temporary folder and the kubeconfig.
#
#   tools/real-apiserver/start.sh /tmp/real.kubeconfig
#
# MITHRIL_REAL_APISERVER_BIN: a binary built by build.sh (else build.sh is run, cached).
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 KUBECONFIG_PATH" >&2
    exit 2
fi
here="$(cd "$(dirname "$0")" && pwd)"
out="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
rm -f "$out"
bin="${MITHRIL_REAL_APISERVER_BIN:-$("$here/build.sh")}"

work="$(mktemp -d "${TMPDIR:-/tmp}/mithril-real-apiserver.XXXXXX")"
pids=()
# kube-apiserver first (it needs etcd to shut down cleanly), then etcd; each gets 20 s before a
# SIGKILL.
cleanup() {
    trap - EXIT INT TERM
    rm -f "$out"
    local i pid
    for (( i = ${#pids[@]} - 1; i >= 0; i-- )); do
        pid="${pids[$i]}"
        kill -TERM "$pid" 2>/dev/null || continue
        for _ in $(seq 200); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "start.sh: stopping" >&2; exit 0' INT TERM

"$bin" certs "$work/certs"
mapfile -t ports < <("$bin" free-ports 3)
etcd_port="${ports[0]}" peer_port="${ports[1]}" api_port="${ports[2]}"
url="https://127.0.0.1:$api_port"

"$bin" etcd "$work/etcd" "$etcd_port" "$peer_port" &
pids+=($!)

# No kube-controller-manager runs: the ServiceAccount admission plugin would wait for default
# ServiceAccounts and token controllers that never come, so it is off; the kubernetes Service's
# endpoints are not reconciled (a loopback address is no valid endpoint).
"$bin" kube-apiserver \
    --etcd-servers="http://127.0.0.1:$etcd_port" \
    --bind-address=127.0.0.1 \
    --advertise-address=127.0.0.1 \
    --secure-port="$api_port" \
    --cert-dir="$work/apiserver" \
    --tls-cert-file="$work/certs/server.crt" \
    --tls-private-key-file="$work/certs/server.key" \
    --client-ca-file="$work/certs/client-ca.crt" \
    --service-cluster-ip-range=10.0.0.0/24 \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$work/certs/sa.key" \
    --service-account-signing-key-file="$work/certs/sa.key" \
    --authorization-mode=RBAC \
    --disable-admission-plugins=ServiceAccount \
    --endpoint-reconciler-type=none \
    --allow-privileged=true \
    --v="${MITHRIL_REAL_APISERVER_VERBOSITY:-0}" &
pids+=($!)

started=$(date +%s)
if ! "$bin" wait-ready "$url" "$work/certs" "${MITHRIL_REAL_APISERVER_READY_TIMEOUT:-180s}"; then
    echo "start.sh: kube-apiserver did not become ready" >&2
    exit 1
fi
"$bin" kubeconfig "$url" "$work/certs" "$out"
echo "start.sh: kube-apiserver ready at $url after $(( $(date +%s) - started ))s; admin kubeconfig: $out" >&2

# Runs until either process exits (a failure) or a signal stops this script.
set +e
wait -n "${pids[@]}"
status=$?
echo "start.sh: a server process exited (status $status); stopping" >&2
exit 1
