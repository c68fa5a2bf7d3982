#!/usr/bin/env bash
# Builds one Go-built test tool (h2spec, the Gateway API conformance binary, helm, jaeger, …)
# from its pinned module in test/tools/<name>/ into a cache outside the repository, keyed by a
# digest of that directory's files (go.mod, go.sum, build.sh). Idempotent: a cached build is
# reused at once. No binary and no copied source is committed; only the pins are.
#
#   bash test/tools/build-go-tool.sh <name>     # prints the cache directory on its last line
#   bash test/tools/build-go-tool.sh --all      # every test/tools/*/ in turn (what .ci/run does)
#
# A tool directory holds a go.mod whose `tool` directives name the commands to build (all are
# built with `go build -o <dest>/ tool`), or a build.sh that is run instead, in that directory,
# with the destination directory as $1 (for what is not a command: `go test -c`, say).
# test/support/go-tools.ts computes the same directory (toolDir/requireTool).
# SWITCHYARD_TOOLS_CACHE overrides the cache root (default ~/.cache/switchyard/tools).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

if [ "${1:-}" = "--all" ]; then
  shopt -s nullglob
  status=0
  for d in "$here"/*/; do
    name=$(basename "$d")
    bash "$0" "$name" || { echo "build-go-tool: $name failed" >&2; status=1; }
  done
  exit "$status"
fi

name="${1:?usage: build-go-tool.sh <name> | --all}"
dir="$here/$name"
[ -f "$dir/go.mod" ] || { echo "build-go-tool: $dir/go.mod not found" >&2; exit 1; }

# The key: the tool directory's files, in name order (the same digest go-tools.ts computes).
key=$(cd "$dir" && for f in $(ls -1 | LC_ALL=C sort); do [ -f "$f" ] && { printf '%s\0' "$f"; cat "$f"; }; done | sha256sum | cut -c1-16)
root="${SWITCHYARD_TOOLS_CACHE:-$HOME/.cache/switchyard/tools}"
dest="$root/$name-$key"
if [ -f "$dest/.complete" ]; then
  echo "build-go-tool: $name cached in $dest"
  echo "$dest"
  exit 0
fi

command -v go >/dev/null 2>&1 || [ ! -x /usr/local/go/bin/go ] || export PATH="/usr/local/go/bin:$PATH"
command -v go >/dev/null 2>&1 || { echo "build-go-tool: the Go toolchain (go) is not installed" >&2; exit 1; }
echo "build-go-tool: building $name with $(go version | awk '{print $3}')"
start=$(date +%s)
tmp="$root/.build-$name-$$"
rm -rf "$tmp"; mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
cd "$dir"
if [ -f build.sh ]; then
  bash build.sh "$tmp"
else
  go build -trimpath -ldflags "-s -w" -o "$tmp/" tool
fi
touch "$tmp/.complete"
rm -rf "$dest"
mv "$tmp" "$dest"
echo "build-go-tool: $name built in $(( $(date +%s) - start ))s into $dest"
echo "$dest"
