#!/usr/bin/env bash
# Copies the CRDs of the Prometheus Operator release pinned in go.mod (checked against go.sum)
# into $1. Nothing is compiled: the module is only the pinned, verified source of the YAML.
set -euo pipefail
module=github.com/prometheus-operator/prometheus-operator
version=$(awk -v m="$module" '{ sub(/^require[ \t]+/, "") } $1 == m && $2 ~ /^v/ { print $2; exit }' go.mod)
[ -n "$version" ] || { echo "prometheus-operator-crds: no $module version in go.mod" >&2; exit 1; }
dir=$(go mod download -json "$module@$version" | awk -F'"' '$2 == "Dir" { print $4 }')
[ -d "$dir/example/prometheus-operator-crd" ] || { echo "prometheus-operator-crds: $module@$version has no example/prometheus-operator-crd" >&2; exit 1; }
cp "$dir"/example/prometheus-operator-crd/monitoring.coreos.com_*.yaml "$1/"
chmod u+w "$1"/*.yaml
echo "$version" > "$1/VERSION"
