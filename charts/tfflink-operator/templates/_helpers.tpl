{{/* Chart name, truncated to the 63 characters a label allows. */}}
{{- define "tfflink-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name. */}}
{{- define "tfflink-operator.fullname" -}}
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

{{- define "tfflink-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tfflink-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tfflink-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "tfflink-operator.labels" -}}
helm.sh/chart: {{ include "tfflink-operator.chart" . }}
{{ include "tfflink-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "tfflink-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tfflink-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "tfflink-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
The rules the operator needs, and no more (kept in step with
operator/tfflink/backends/kubernetes/api.py and the kopf handlers):
- TFFlinkJobs: watched by kopf, patched (finalizer, annotations, status), deleted by the TTL.
- per job: ConfigMaps (created, read for the AM's address, patched on refresh, deleted by
  label), ServiceAccount, Role and RoleBinding (created, deleted by label), the JobManager
  Service (created, deleted by name), Deployments and the submitter Job (watched through
  kopf indexes, created, deleted by label), Pods (watched, deleted by label).
- The per-job Role grants get/patch/update on the rendezvous ConfigMap: RBAC lets the operator
  create it only if it holds those verbs itself, hence get/patch/update on configmaps.
- per attempt: the AM token's Secret (created, deleted by label; never read back).
- Events: kopf posts them on the TFFlinkJob.
- per job: a NetworkPolicy (created, deleted by label): only the job's pods and the operator
  reach its Flink and TF ports; an Ingress to the Flink UI when spec.kubernetes.ingress is set.
- per job with spec.tensorboard: its Deployment, Service and NetworkPolicy, server-side applied
  at each deploy so they follow the spec (hence patch), deleted when spec.tensorboard is gone.
*/}}
{{- define "tfflink-operator.rules" -}}
- apiGroups: ["tfflink.dev"]
  resources: ["tfflinkjobs"]
  verbs: ["get", "list", "watch", "patch", "update", "delete"]
- apiGroups: ["tfflink.dev"]
  resources: ["tfflinkjobs/status"]
  verbs: ["get", "patch", "update"]
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["create", "get", "patch", "update", "deletecollection"]
- apiGroups: [""]
  resources: ["serviceaccounts"]
  verbs: ["create", "deletecollection"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["create", "deletecollection"]
- apiGroups: [""]
  resources: ["services"]
  verbs: ["create", "patch", "delete"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch", "deletecollection"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create"]
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["create", "patch", "list", "watch", "deletecollection"]
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["create", "list", "watch", "deletecollection"]
- apiGroups: ["rbac.authorization.k8s.io"]
  resources: ["roles", "rolebindings"]
  verbs: ["create", "deletecollection"]
- apiGroups: ["networking.k8s.io"]
  resources: ["networkpolicies"]
  verbs: ["create", "patch", "deletecollection"]
- apiGroups: ["networking.k8s.io"]
  resources: ["ingresses"]
  verbs: ["create", "deletecollection"]
{{- end }}
