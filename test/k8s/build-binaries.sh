#!/usr/bin/env bash
# Builds the binaries of the real-apiserver suite (test/real/): etcd, kube-apiserver,
# kube-controller-manager and kubectl (the same release as the server: Debian's kubectl is 1.20,
# too old for server-side apply with strict field validation), at the versions pinned in
# test/k8s/tools/go.mod, into a cache outside the repository keyed by those versions.
# Idempotent: a cached set is reused at once.
#
#   bash test/k8s/build-binaries.sh        # prints the cache directory on its last line
#
# The first build takes many minutes (Go compiles about 2,000 packages); progress is printed.
# SWITCHYARD_K8S_CACHE overrides the cache root (default ~/.cache/switchyard).
set -euo pipefail
tools="$(cd "$(dirname "$0")/tools" && pwd)"

version_of() { # module path -> version required in tools/go.mod
  awk -v m="$1" '{ sub(/^require[ \t]+/, "") } $1 == m && $2 ~ /^v/ { print $2; exit }' "$tools/go.mod"
}
k8s=$(version_of k8s.io/kubernetes)
etcd=$(version_of go.etcd.io/etcd/server/v3)
[ -n "$k8s" ] && [ -n "$etcd" ] || { echo "build-binaries: cannot read versions from $tools/go.mod" >&2; exit 1; }

root="${SWITCHYARD_K8S_CACHE:-$HOME/.cache/switchyard}"
dest="$root/k8s-$k8s-etcd-$etcd"
bins=(etcd kube-apiserver kube-controller-manager kubectl)

cached=1
for b in "${bins[@]}"; do [ -x "$dest/$b" ] || cached=0; done
if [ "$cached" = 1 ]; then
  echo "build-binaries: cached in $dest"
  echo "$dest"
  exit 0
fi

# The Go toolchain lives in /usr/local/go on the project's machines; a shell may not have it on PATH.
command -v go >/dev/null 2>&1 || [ ! -x /usr/local/go/bin/go ] || export PATH="/usr/local/go/bin:$PATH"
command -v go >/dev/null 2>&1 || { echo "build-binaries: the Go toolchain (go) is not installed" >&2; exit 1; }
echo "build-binaries: building Kubernetes $k8s (kube-apiserver, kube-controller-manager, kubectl) and etcd $etcd with $(go version | awk '{print $3}'); the first build takes many minutes"
start=$(date +%s)
tmp="$root/.build-$$"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT

minor=${k8s#v1.}; minor=${minor%%.*}
ldflags="-s -w"
for kv in "gitVersion=$k8s" "gitMajor=1" "gitMinor=$minor" "gitTreeState=clean" \
          "buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"; do
  ldflags+=" -X k8s.io/component-base/version.$kv"
done

cd "$tools"
# -v names each package as it is compiled: print a running count instead of ~2,000 lines.
set +e
go build -v -trimpath -ldflags "$ldflags" -o "$tmp/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kubectl ./etcd 2>&1 |
  { n=0
    while IFS= read -r line; do
      case "$line" in
        *[[:space:]:]*) echo "$line" ;;   # not a bare package path: a compiler or go command message
        *) n=$((n + 1)); [ $((n % 100)) -ne 0 ] || echo "build-binaries: $n packages compiled ($(( $(date +%s) - start ))s)" ;;
      esac
    done; }
status=${PIPESTATUS[0]}
set -e
[ "$status" -eq 0 ] || { echo "build-binaries: go build failed (exit $status)" >&2; exit "$status"; }

mkdir -p "$dest"
for b in "${bins[@]}"; do mv -f "$tmp/$b" "$dest/$b"; done
echo "build-binaries: built in $(( $(date +%s) - start ))s into $dest"
echo "$dest"
