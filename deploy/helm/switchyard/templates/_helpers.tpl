{{/* The chart's name, or nameOverride. */}}
{{- define "switchyard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's resource name: fullnameOverride, or release-chart (once if they match). */}}
{{- define "switchyard.fullname" -}}
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

{{- define "switchyard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "switchyard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "switchyard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "switchyard.labels" -}}
helm.sh/chart: {{ include "switchyard.chart" . }}
{{ include "switchyard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: gateway
{{- end }}

{{- define "switchyard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "switchyard.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "switchyard.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
A top-level integer from the TOML in .Values.config, or the default given:
  include "switchyard.configInt" (list .Values.config "drain_delay_secs" 0)
Only lines before the first [table] are read, where the top-level keys live.
*/}}
{{- define "switchyard.configInt" -}}
{{- $config := index . 0 }}
{{- $key := index . 1 }}
{{- $default := index . 2 }}
{{- $top := regexReplaceAll "(?s)\\n\\s*\\[.*" (printf "\n%s" $config) "" }}
{{- $line := regexFind (printf "(?m)^[ \\t]*%s[ \\t]*=[ \\t]*[0-9]+" $key) $top }}
{{- if $line }}{{ regexFind "[0-9]+$" $line }}{{ else }}{{ $default }}{{ end }}
{{- end }}

{{/* Seconds a pod may take to stop: drain delay + shutdown grace + 15, or the value set. */}}
{{- define "switchyard.terminationGracePeriodSeconds" -}}
{{- $drain := include "switchyard.configInt" (list .Values.config "drain_delay_secs" 0) | atoi }}
{{- $grace := include "switchyard.configInt" (list .Values.config "shutdown_grace_secs" 30) | atoi }}
{{- $needed := add $drain $grace }}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds }}
{{- add $needed 15 }}
{{- else if le (int .Values.terminationGracePeriodSeconds) $needed }}
{{- fail (printf "terminationGracePeriodSeconds (%v) must be larger than drain_delay_secs + shutdown_grace_secs (%d)" .Values.terminationGracePeriodSeconds $needed) }}
{{- else }}
{{- .Values.terminationGracePeriodSeconds }}
{{- end }}
{{- end }}

{{/* Settings that cannot work together fail the render with a reason. */}}
{{- define "switchyard.validate" -}}
{{- $top := regexReplaceAll "(?s)\\n\\s*\\[.*" (printf "\n%s" .Values.config) "" }}
{{- if not (regexMatch "(?m)^[ \\t]*listen[ \\t]*=[ \\t]*\"0\\.0\\.0\\.0:4000\"" $top) }}
{{- fail "config: the chart's pods expose port 4000: set listen = \"0.0.0.0:4000\"" }}
{{- end }}
{{- if and .Values.metrics.enabled (not (regexMatch "(?m)^[ \\t]*metrics_listen[ \\t]*=[ \\t]*\"0\\.0\\.0\\.0:9090\"" $top)) }}
{{- fail "config: metrics.enabled needs metrics_listen = \"0.0.0.0:9090\" (or set metrics.enabled=false)" }}
{{- end }}
{{- $hasDb := regexMatch "(?m)^[ \\t]*database_url[ \\t]*=" $top }}
{{- if and $hasDb .Values.database.existingSecret }}
{{- fail "config: database_url in the file would win over SWITCHYARD_DATABASE_URL from database.existingSecret; remove one" }}
{{- end }}
{{- if not (or $hasDb .Values.database.existingSecret) }}
{{- fail "the chart expects PostgreSQL: set database.existingSecret (SWITCHYARD_DATABASE_URL); the SQLite default is per pod and the root filesystem is read-only" }}
{{- end }}
{{- if not .Values.masterKey.existingSecret }}
{{- fail "masterKey.existingSecret is required: the gateway refuses to listen on 0.0.0.0 without a key" }}
{{- end }}
{{- if and .Values.redis.url .Values.redis.existingSecret }}
{{- fail "set redis.url or redis.existingSecret, not both" }}
{{- end }}
{{- $drain := include "switchyard.configInt" (list .Values.config "drain_delay_secs" 0) | atoi }}
{{- $liveness := mul (int .Values.probes.liveness.periodSeconds) (int .Values.probes.liveness.failureThreshold) }}
{{- if le (int $liveness) $drain }}
{{- fail (printf "probes.liveness: periodSeconds x failureThreshold (%d s) must outlast drain_delay_secs (%d s), or draining pods are restarted" $liveness $drain) }}
{{- end }}
{{- end }}
