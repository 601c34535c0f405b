#!/usr/bin/env bash
# Builds the real helm (helm.sh/helm/v4, pinned in go.mod) once per version of this module and
# prints the binary's path on stdout. Cached outside the repository under
# ${MITHRIL_TOOLS_CACHE:-$HOME/.cache/mithril-operator}/helm/<helm version>/<hash>/, keyed by go.mod
# and go.sum; Go's GOMODCACHE and GOCACHE stay where they are. Needs Go >= 1.26.
#
#   helm="$(tools/helm/build.sh)" && "$helm" version
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

if ! command -v go >/dev/null 2>&1; then
    echo "build.sh: no 'go' on PATH; Go >= 1.26 is needed to build helm" >&2
    exit 1
fi
version="$(awk '$1 == "helm.sh/helm/v4" { print $2 }' go.mod)"
key="$(cat go.mod go.sum | sha256sum | cut -c1-16)"
dir="${MITHRIL_TOOLS_CACHE:-$HOME/.cache/mithril-operator}/helm/$version/$key"
bin="$dir/helm"
if [ ! -x "$bin" ]; then
    mkdir -p "$dir"
    echo "build.sh: building helm $version with $(go version | awk '{print $3}') into $dir" >&2
    start=$(date +%s)
    # helm's version string comes from a linker variable, as its own release build sets it.
    GOTOOLCHAIN=local GOFLAGS=-mod=readonly go build -buildvcs=false -trimpath \
        -ldflags="-s -w -X helm.sh/helm/v4/internal/version.version=$version" \
        -o "$bin.tmp" helm.sh/helm/v4/cmd/helm
    mv "$bin.tmp" "$bin"
    echo "build.sh: built in $(( $(date +%s) - start ))s" >&2
fi
echo "$bin"
