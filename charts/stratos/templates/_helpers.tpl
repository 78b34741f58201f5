{{/* Names and labels shared by every template. */}}
{{- define "stratos.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "stratos.operatorName" -}}
{{- printf "%s-operator" (include "stratos.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "stratos.serviceAccountName" -}}
{{- default (include "stratos.operatorName" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "stratos.labels" -}}
app.kubernetes.io/name: stratos
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: stratos
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "stratos.operatorSelector" -}}
app.kubernetes.io/name: stratos
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{/* "repository:tag" of an image block */}}
{{- define "stratos.image" -}}
{{- printf "%s:%s" .repository .tag -}}
{{- end -}}
