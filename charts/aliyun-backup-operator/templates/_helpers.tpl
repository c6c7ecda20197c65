{{/* Chart name. */}}
{{- define "abo.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: release name, or <release>-<chart> when the release name lacks the chart name. */}}
{{- define "abo.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "abo.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels: stable across upgrades. */}}
{{- define "abo.selectorLabels" -}}
app.kubernetes.io/name: {{ include "abo.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "abo.labels" -}}
helm.sh/chart: {{ include "abo.chart" . }}
{{ include "abo.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: aliyun-backup-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "abo.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "abo.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "abo.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Fails rendering on contradictory values, with a message saying what to change. */}}
{{- define "abo.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) -}}
{{- fail "replicaCount > 1 needs leaderElection.enabled=true (two leaders would reconcile the same objects)" -}}
{{- end -}}
{{- if and (eq .Values.rbac.scope "namespace") (empty .Values.watchNamespaces) -}}
{{- fail "rbac.scope=namespace needs watchNamespaces (the namespaces to grant access in)" -}}
{{- end -}}
{{- if not (has .Values.rbac.scope (list "cluster" "namespace")) -}}
{{- fail "rbac.scope must be cluster or namespace" -}}
{{- end -}}
{{- if and .Values.credentials.existingSecret .Values.credentials.rrsa.enabled -}}
{{- fail "set only one of credentials.existingSecret and credentials.rrsa.enabled (the access key would win over RRSA)" -}}
{{- end -}}
{{- if .Values.credentials.rrsa.enabled -}}
{{- if .Values.credentials.rrsa.webhook -}}
{{- if not .Values.credentials.rrsa.roleName -}}
{{- fail "credentials.rrsa.webhook=true needs credentials.rrsa.roleName (the ServiceAccount annotation ack-pod-identity-webhook reads)" -}}
{{- end -}}
{{- else if or (not .Values.credentials.rrsa.roleArn) (not .Values.credentials.rrsa.oidcProviderArn) -}}
{{- fail "credentials.rrsa.webhook=false needs credentials.rrsa.roleArn and credentials.rrsa.oidcProviderArn" -}}
{{- end -}}
{{- end -}}
{{- range $product, $_ := .Values.cloud.endpoints -}}
{{- if not (has $product (list "dbs" "rds" "hbr" "sts")) -}}
{{- fail (printf "cloud.endpoints: unknown product %q (use dbs, rds, hbr or sts)" $product) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.serviceMonitor.enabled (not .Values.metrics.service.enabled) -}}
{{- fail "serviceMonitor.enabled needs metrics.service.enabled" -}}
{{- end -}}
{{- end -}}

{{/* The rules the operator needs on its kinds, Secrets and Events in a watched namespace.
Kept exactly to the calls the code makes (tests/chart_rbac.rs records them):
- kinds (backups, schedules and restores): list/watch (the controllers' reflectors, and the
  start-up wait for the CRDs), get (a fresh read before acting); finalizer add/remove is a
  JSON patch (kube-runtime);
- status: server-side apply = patch;
- Secrets: get (credentialsRef/passwordSecretRef) and list/watch (a changed Secret requeues);
- Events: kube-runtime's Recorder writes events.k8s.io/v1 (create, patch for series). */}}
{{- define "abo.workloadRules" -}}
- apiGroups: ["backup.aliyun.dev"]
  resources: ["dbsbackupplans", "rdsbackups", "hbrbackupjobs", "rdsbackupschedules", "hbrbackupschedules", "rdsrestores", "hbrrestorejobs", "dbsrestoretasks"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["backup.aliyun.dev"]
  resources: ["dbsbackupplans/status", "rdsbackups/status", "hbrbackupjobs/status", "rdsbackupschedules/status", "hbrbackupschedules/status", "rdsrestores/status", "hbrrestorejobs/status", "dbsrestoretasks/status"]
  verbs: ["patch"]
# Schedules make and prune their children. Restores are never created or deleted by the
# operator (only by people), so they get no create/delete here.
- apiGroups: ["backup.aliyun.dev"]
  resources: ["rdsbackups", "hbrbackupjobs"]
  verbs: ["create", "delete"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end -}}
