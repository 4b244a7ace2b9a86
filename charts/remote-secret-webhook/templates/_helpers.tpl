{{/* The chart's name, or nameOverride. */}}
{{- define "rsw.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The name of every object: fullnameOverride, else the release name when it already holds the
chart's name ("remote-secret-webhook", the name manifests/ uses), else <release>-<chart>.
*/}}
{{- define "rsw.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "rsw.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "rsw.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rsw.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels of every object: the selector labels, part-of (as manifests/), Helm's, commonLabels. */}}
{{- define "rsw.labels" -}}
{{ include "rsw.selectorLabels" . }}
app.kubernetes.io/part-of: kubectl-remote-secret
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* metadata.labels and, when there are any, metadata.annotations (commonAnnotations). */}}
{{- define "rsw.metadata" -}}
labels:
  {{- include "rsw.labels" . | nindent 2 }}
{{- with .Values.commonAnnotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The kubernetes.io/tls Secret the pods mount. */}}
{{- define "rsw.tlsSecretName" -}}
{{- if and (eq .Values.certificates.source "existingSecret") .Values.certificates.existingSecret.name -}}
{{- .Values.certificates.existingSecret.name -}}
{{- else -}}
{{- printf "%s-tls" (include "rsw.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "rsw.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/*
Checks across values that the schema cannot express; each failure is one line saying what to set.
Included by the Deployment, so every render runs it.
*/}}
{{- define "rsw.validate" -}}
{{- $_ := required "localClusterId is required: set it to istiod's CLUSTER_ID for this cluster (\"Kubernetes\" when istiod was given none), e.g. --set localClusterId=Kubernetes" .Values.localClusterId -}}
{{- if and .Values.policyReport (eq (int .Values.backgroundAudit.intervalSeconds) 0) -}}
{{- fail "policyReport needs the background audit: set backgroundAudit.intervalSeconds above 0, or policyReport=false" -}}
{{- end -}}
{{- if and .Values.probes.enabled (eq (int .Values.backgroundAudit.intervalSeconds) 0) -}}
{{- fail "probes.enabled runs beside the background audit, on its leader: set backgroundAudit.intervalSeconds above 0, or probes.enabled=false" -}}
{{- end -}}
{{- if and .Values.webhook.testOnlyUrl (not .Values.webhook.testOnlyCaBundle) -}}
{{- fail "webhook.testOnlyUrl needs webhook.testOnlyCaBundle (base64 PEM of the CA that signed the URL's certificate)" -}}
{{- end -}}
{{- end -}}
