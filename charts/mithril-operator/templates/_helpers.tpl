{{/* The chart's name, or nameOverride. */}}
{{- define "mithril-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Object names: the release name when it holds the chart's name (so `helm install
mithril-operator` names objects as deploy/base does), else release-chart. */}}
{{- define "mithril-operator.fullname" -}}
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

{{- define "mithril-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mithril-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "mithril-operator.labels" -}}
{{ include "mithril-operator.selectorLabels" . }}
app.kubernetes.io/part-of: mithril-operator
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{- define "mithril-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mithril-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Namespaces the operator watches (empty: all), as a list. A namespace install always
watches its own namespace. */}}
{{- define "mithril-operator.watchedNamespaces" -}}
{{- $namespaces := .Values.watchNamespaces }}
{{- if eq .Values.installScope "namespace" }}
{{- $namespaces = prepend .Values.watchNamespaces .Release.Namespace | uniq }}
{{- end }}
{{- toJson $namespaces }}
{{- end }}

{{- define "mithril-operator.leaseNamespace" -}}
{{- default .Release.Namespace .Values.leaderElection.namespace }}
{{- end }}

{{/* The operator's permissions: the rules of deploy/base/cluster-role.yaml, for the ClusterRole
or the Roles of a namespace install (a test keeps them equal). */}}
{{- define "mithril-operator.rules" -}}
- apiGroups: [mithril.ai]
  resources: [spotbids]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [mithril.ai]
  resources: [instanceschedules]
  verbs: [list, watch]
- apiGroups: [mithril.ai]
  resources: [spotpools]
  verbs: [list, watch, patch]
- apiGroups: [mithril.ai]
  resources: [spotbids/status, instanceschedules/status, spotpools/status]
  verbs: [patch]
- apiGroups: [mithril.ai]
  resources: [spotbids/finalizers, spotpools/finalizers]
  verbs: [update]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch]
{{- end }}
