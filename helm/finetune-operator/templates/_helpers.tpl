{{/* Names come from the release, so two releases never collide (Helm's usual fullname rules). */}}
{{- define "finetune-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "finetune-operator.fullname" -}}
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

{{/* The operator's ServiceAccount. */}}
{{- define "finetune-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "finetune-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The ClusterRole bound to trainer pods' ServiceAccount in each job's namespace. */}}
{{- define "finetune-operator.trainerRole" -}}
{{- printf "%s-trainer" (include "finetune-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "finetune-operator.labels" -}}
app.kubernetes.io/name: {{ include "finetune-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{- define "finetune-operator.selector" -}}
app.kubernetes.io/name: {{ include "finetune-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
What the operator does: watch FineTuneJobs, FineTuneSchedules and trainer
pods, own their status subresources (server-side apply: patch), create and
delete trainer pods, create a schedule's runs and delete them (history
limits, Replace, TTL), record events, hold its Lease, and give trainer pods
their identity in a job's namespace.
Cluster-wide (a ClusterRole) by default; a Role in each listed namespace when `namespaces` is set.
*/}}
{{- define "finetune-operator.operatorRules" -}}
- apiGroups: [finetune.dev]
  resources: [finetunejobs]
  verbs: [get, list, watch, create, delete]
- apiGroups: [finetune.dev]
  resources: [finetuneschedules]
  verbs: [list, watch]
- apiGroups: [finetune.dev]
  resources: [finetunejobs/status, finetuneschedules/status]
  verbs: [patch]
# Trainer pods name their job, and runs their schedule, as owner with blockOwnerDeletion: with the
# OwnerReferencesPermissionEnforcement admission plugin on, that needs update on the owner's finalizers.
- apiGroups: [finetune.dev]
  resources: [finetunejobs/finalizers, finetuneschedules/finalizers]
  verbs: [update]
- apiGroups: [""]
  resources: [pods]
  verbs: [list, watch, create, delete]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
# The trainer's identity in each job's namespace, created on demand (--trainer-cluster-role):
# its ServiceAccount, and a RoleBinding of the trainer ClusterRole, and nothing else. RBAC lets the
# operator bind that role without the `bind` verb because it holds every permission the role grants
# (get finetunejobs, patch finetunejobs/status); tests/chart/least-privilege.test.ts proves both.
# get, patch and delete converge what an earlier release left (trainer-access.ts): the owner is added
# to the ServiceAccount, a RoleBinding of another release's role is replaced (roleRef is immutable).
- apiGroups: [""]
  resources: [serviceaccounts]
  verbs: [get, create, patch]
- apiGroups: [rbac.authorization.k8s.io]
  resources: [rolebindings]
  verbs: [get, create, delete]
{{- end }}
