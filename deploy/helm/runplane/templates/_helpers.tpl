{{/* The release's name for every object of the chart. */}}
{{- define "runplane.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "runplane.serviceAccountName" -}}
{{- default (include "runplane.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "runplane.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "runplane.labels" -}}
{{ include "runplane.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/*
The checks no value combination may skip: several replicas need PostgreSQL (a SQLite
file has one host: a second is refused, docs/serve.md), a host serving the pod's
address needs tokens, and it needs namespaces to work in.
*/}}
{{- define "runplane.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.database.existingSecret) -}}
{{- fail (printf "replicaCount is %d: more than one replica needs PostgreSQL (database.existingSecret naming a Secret with the postgres:// URL); a SQLite file serves one host" (int .Values.replicaCount)) -}}
{{- end -}}
{{- if and (not .Values.auth.existingConfigSecret) (not .Values.auth.tokens) -}}
{{- fail "auth.tokens is empty: runplane serve refuses to serve the pod's address without API tokens (or give auth.existingConfigSecret)" -}}
{{- end -}}
{{- if not .Values.namespaces -}}
{{- fail "namespaces is empty: name the projects (namespaces) the host may run work in" -}}
{{- end -}}
{{- range .Values.namespaces -}}
{{- if hasPrefix "kube-" . -}}
{{- fail (printf "namespaces: %s is the cluster's own; no run goes there" .) -}}
{{- end -}}
{{- end -}}
{{- end -}}
