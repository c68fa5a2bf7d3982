{{/* Labels every object carries (the same as manifests/), plus the chart's. */}}
{{- define "switchyard.labels" -}}
app.kubernetes.io/name: switchyard
app.kubernetes.io/component: router
{{ include "switchyard.chartLabels" . }}
{{- end }}

{{/* Labels of switchyard kube-relay's objects (the same as manifests/kube-relay), plus the chart's. */}}
{{- define "switchyard.relayLabels" -}}
app.kubernetes.io/name: switchyard
app.kubernetes.io/component: kube-relay
{{ include "switchyard.chartLabels" . }}
{{- end }}

{{/* What Helm users expect on every object; not on pod templates (a chart upgrade alone must not roll the pods). */}}
{{- define "switchyard.chartLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The router pods of this release: the DaemonSet's selector. */}}
{{- define "switchyard.selectorLabels" -}}
app.kubernetes.io/name: switchyard
app.kubernetes.io/component: router
app.kubernetes.io/instance: {{ .Values.router.instance | quote }}
{{- end }}

{{/* switchyard-router for the default instance, switchyard-router-<instance> for a shard. */}}
{{- define "switchyard.daemonSetName" -}}
{{- if eq .Values.router.instance "default" }}switchyard-router{{ else }}switchyard-router-{{ .Values.router.instance }}{{ end }}
{{- end }}

{{/* An exec probe over the pod's own admin socket (two routers share the admin port in a rollover). */}}
{{- define "switchyard.probeCommand" -}}
["node", "-e", "require('http').get({socketPath:'/tmp/switchyard-admin.sock',path:'{{ . }}'},r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))"]
{{- end }}

{{/* Refuse combinations that cannot work, with the reason. */}}
{{- define "switchyard.validate" -}}
{{- if and .Values.openshift.enabled (eq .Values.router.name "default") }}
{{- fail "router.name must not be \"default\" with openshift.enabled: that is the name of OpenShift's own IngressController, and both routers would write the same status.ingress[] entry of every Route (use e.g. --set router.name=switchyard)" }}
{{- end }}
{{- if and .Values.openshift.enabled .Values.tcpMigrateReq.initContainer }}
{{- fail "tcpMigrateReq.initContainer is privileged, which OpenShift's hostnetwork-v2 SCC refuses: set net.ipv4.tcp_migrate_req=1 on the nodes with a MachineConfig instead" }}
{{- end }}
{{- end }}
