// Test data only: the Prometheus Operator's own CRDs (PodMonitor, PrometheusRule), from the
// release pinned here, which ships them under example/prometheus-operator-crd/. build.sh copies
// them into the test-tool cache (test/tools/build-go-tool.sh); test/real/manifests.test.ts
// applies manifests/monitoring against them with strict validation.
module switchyard.local/prometheus-operator-crds

go 1.26.0

require github.com/prometheus-operator/prometheus-operator v0.85.0
