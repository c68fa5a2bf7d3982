#!/usr/bin/env bash
# Builds helm from the module pinned in go.mod, stamped with that version (`helm version`), into $1.
set -euo pipefail
version=$(awk '$1 == "helm.sh/helm/v4" && $2 ~ /^v/ { print $2; exit }' go.mod)
[ -n "$version" ] || { echo "helm build: no helm.sh/helm/v4 version in go.mod" >&2; exit 1; }
go build -trimpath -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$version" -o "$1/" helm.sh/helm/v4/cmd/helm
