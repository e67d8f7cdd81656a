{{/* Names and labels shared by every object of the release. */}}

{{- define "tessera.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "tessera.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "tessera.labels" -}}
{{ include "tessera.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The image of the backend: the CUDA build, or its "-cpu" variant; by digest when given. */}}
{{- define "tessera.image" -}}
{{- $tag := .Values.image.tag -}}
{{- if eq .Values.backend "cpu" }}{{ $tag = printf "%s-cpu" $tag }}{{ end -}}
{{- if .Values.image.digest -}}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* Seconds between SIGTERM's preStop and the kill: the delay, the drain, and a margin. */}}
{{- define "tessera.gracePeriod" -}}
{{- add .Values.lifecycle.preStopDelaySeconds .Values.server.drainTimeoutSeconds 15 -}}
{{- end -}}

{{- define "tessera.eppService" -}}
{{- .Values.inferencePool.endpointPicker.serviceName | default (printf "%s-epp" (include "tessera.fullname" .)) -}}
{{- end -}}
