#!/usr/bin/env bash
# Builds the Gateway API conformance suite's test binary (TestConformance, `go test -c` of the
# pinned sigs.k8s.io/gateway-api/conformance package) and its echo backend, echo-basic, into $1.
# Run by test/tools/build-go-tool.sh in this directory. Measured on the project's 2-core machine:
# see README (Gateway API, conformance).
set -euo pipefail
dest="${1:?destination directory}"
go build -trimpath -ldflags "-s -w" -o "$dest/" tool
go test -c -trimpath -ldflags "-s -w" -o "$dest/conformance.test" sigs.k8s.io/gateway-api/conformance
