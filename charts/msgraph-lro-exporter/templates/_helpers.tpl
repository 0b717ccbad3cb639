{{/* The chart's name, cut to 63 characters (a DNS label). */}}
{{- define "msgraph-lro-exporter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The full name: the release name, with the chart's unless it holds it already. */}}
{{- define "msgraph-lro-exporter.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "msgraph-lro-exporter.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The recommended labels, on every object. */}}
{{- define "msgraph-lro-exporter.labels" -}}
helm.sh/chart: {{ include "msgraph-lro-exporter.chart" . }}
{{ include "msgraph-lro-exporter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: msgraph-lro-exporter
{{- end }}

{{/* What the Service, the PodDisruptionBudget and the workload select pods by. */}}
{{- define "msgraph-lro-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "msgraph-lro-exporter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "msgraph-lro-exporter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "msgraph-lro-exporter.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "msgraph-lro-exporter.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The exporter's configuration file, as the ConfigMap holds it. */}}
{{- define "msgraph-lro-exporter.config" -}}
{{- if not .Values.config.tenants }}
{{- fail "config.tenants is required: set config to the exporter's msgraph_lro.yml (see values.yaml)" }}
{{- end }}
{{- toYaml .Values.config }}
{{- end }}
