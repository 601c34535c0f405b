#!/usr/bin/env bash
# Builds mithril-real-apiserver (kube-apiserver, embedded etcd, helpers) once per version of this
# module and prints the binary's path on stdout. The binary is cached outside the repository under
# ${MITHRIL_TOOLS_CACHE:-$HOME/.cache/mithril-operator}/real-apiserver/<k8s version>/<hash>/, keyed by
# go.mod, go.sum, the Go sources and this script; Go's own GOMODCACHE and GOCACHE are left where they are, so a
# rebuild after a small change is quick too. Needs Go >= 1.26.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

if ! command -v go >/dev/null 2>&1; then
    echo "build.sh: no 'go' on PATH; Go >= 1.26 is needed to build kube-apiserver" >&2
    exit 1
fi
version="$(awk '$1 == "k8s.io/kubernetes" { print $2 }' go.mod)"
key="$(cat go.mod go.sum ./*.go build.sh | sha256sum | cut -c1-16)"
dir="${MITHRIL_TOOLS_CACHE:-$HOME/.cache/mithril-operator}/real-apiserver/$version/$key"
bin="$dir/mithril-real-apiserver"
if [ ! -x "$bin" ]; then
    mkdir -p "$dir"
    echo "build.sh: building kube-apiserver $version with $(go version | awk '{print $3}') into $dir (first build: minutes)" >&2
    start=$(date +%s)
    # The version stamp upstream's release build sets (kubectl and clients parse /version); -s -w:
    # no symbol tables, a smaller binary and a cheaper link on a small machine.
    minor="${version#v1.}"
    minor="${minor%%.*}"
    ldflags="-s -w"
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
        ldflags+=" -X $pkg.gitTreeState=clean"
    done
    GOTOOLCHAIN=local GOFLAGS=-mod=readonly go build -buildvcs=false -trimpath -ldflags="$ldflags" \
        -o "$bin.tmp" .
    mv "$bin.tmp" "$bin"
    echo "build.sh: built in $(( $(date +%s) - start ))s" >&2
fi
echo "$bin"
