{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "fast-channels.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Resource base name: <release>-<chart>, or the release name when it already has the chart's. */}}
{{- define "fast-channels.fullname" -}}
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

{{- define "fast-channels.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels every object carries. */}}
{{- define "fast-channels.commonLabels" -}}
helm.sh/chart: {{ include "fast-channels.chart" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: fast-channels
{{- end }}

{{/* The app's labels. */}}
{{- define "fast-channels.labels" -}}
{{ include "fast-channels.commonLabels" . }}
app.kubernetes.io/name: {{ include "fast-channels.name" . }}
app.kubernetes.io/component: server
{{- end }}

{{/* Selector labels: name and instance only, so that no values change alters them
(a Deployment's selector is immutable). */}}
{{- define "fast-channels.selectorLabels" -}}
app.kubernetes.io/name: {{ include "fast-channels.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The dev Redis has its own name label, so the app's selector never matches its pods. */}}
{{- define "fast-channels.devRedis.selectorLabels" -}}
app.kubernetes.io/name: {{ include "fast-channels.name" . }}-redis
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "fast-channels.devRedis.labels" -}}
{{ include "fast-channels.commonLabels" . }}
app.kubernetes.io/name: {{ include "fast-channels.name" . }}-redis
app.kubernetes.io/component: redis
{{- end }}

{{- define "fast-channels.devRedis.fullname" -}}
{{- printf "%s-redis" (include "fast-channels.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* "true" when the chart runs its own Redis: enabled and no Redis configured. */}}
{{- define "fast-channels.devRedis.active" -}}
{{- if and .Values.devRedis.enabled (eq .Values.redis.mode "url") (not .Values.redis.url) }}true{{ end }}
{{- end }}

{{- define "fast-channels.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "fast-channels.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "fast-channels.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* The Redis URL the app gets: the configured one, or the dev Redis's Service. */}}
{{- define "fast-channels.redisUrl" -}}
{{- if include "fast-channels.devRedis.active" . }}
{{- printf "redis://%s:6379/0" (include "fast-channels.devRedis.fullname" .) }}
{{- else }}
{{- .Values.redis.url }}
{{- end }}
{{- end }}

{{- define "fast-channels.metricsDir" -}}/var/run/prometheus-multiproc{{- end }}
{{- define "fast-channels.redisCaDir" -}}/etc/fast-channels/redis-tls{{- end }}

{{/* Values the schema cannot check: combinations. Each failure says what to change. */}}
{{- define "fast-channels.validate" -}}
{{- $drain := .Values.drain }}
{{- $needed := add $drain.preStopSleepSeconds $drain.timeoutSeconds }}
{{- if le (int .Values.terminationGracePeriodSeconds) (int $needed) }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be greater than drain.preStopSleepSeconds (%d) + drain.timeoutSeconds (%d) = %d, or the kubelet kills pods before they drain" (int .Values.terminationGracePeriodSeconds) (int $drain.preStopSleepSeconds) (int $drain.timeoutSeconds) (int $needed)) }}
{{- end }}
{{- $redis := .Values.redis }}
{{- if regexMatch "^[^:/]+://[^/@]*:[^/@]*@" $redis.url }}
{{- fail "redis.url holds a password, which would be stored in a ConfigMap in plain text: remove it from the URL (keep the user name, if any), put it in a Secret (kubectl create secret generic redis-credentials --from-literal=redis-password=...) and set redis.auth.existingSecret=redis-credentials" }}
{{- end }}
{{- if and (eq $redis.mode "url") (not $redis.url) (not .Values.devRedis.enabled) }}
{{- fail "redis.url is empty and devRedis.enabled is false: set redis.url (redis:// or rediss://), or redis.mode=sentinel with redis.sentinel.addresses" }}
{{- end }}
{{- if and (eq $redis.mode "cluster") (not $redis.url) }}
{{- fail "redis.mode=cluster needs redis.url: the URL of any cluster node" }}
{{- end }}
{{- if eq $redis.mode "sentinel" }}
{{- if not $redis.sentinel.addresses }}
{{- fail "redis.mode=sentinel needs redis.sentinel.addresses (host:port of each Sentinel)" }}
{{- end }}
{{- if not $redis.sentinel.masterName }}
{{- fail "redis.mode=sentinel needs redis.sentinel.masterName" }}
{{- end }}
{{- end }}
{{- $as := .Values.autoscaling }}
{{- if $as.enabled }}
{{- if gt (int $as.minReplicas) (int $as.maxReplicas) }}
{{- fail (printf "autoscaling.minReplicas (%d) is greater than autoscaling.maxReplicas (%d)" (int $as.minReplicas) (int $as.maxReplicas)) }}
{{- end }}
{{- if and (kindIs "invalid" $as.targetCPUUtilizationPercentage) (not $as.connections.enabled) }}
{{- fail "autoscaling.enabled needs a metric: autoscaling.targetCPUUtilizationPercentage or autoscaling.connections.enabled" }}
{{- end }}
{{- if and (not (kindIs "invalid" $as.targetCPUUtilizationPercentage)) (not (dig "requests" "cpu" "" .Values.resources)) }}
{{- fail "autoscaling on CPU needs resources.requests.cpu (utilisation is a percentage of it)" }}
{{- end }}
{{- end }}
{{- $pdb := .Values.podDisruptionBudget }}
{{- if and $pdb.enabled (kindIs "invalid" $pdb.minAvailable) (kindIs "invalid" $pdb.maxUnavailable) }}
{{- fail "podDisruptionBudget.enabled needs minAvailable or maxUnavailable" }}
{{- end }}
{{- end }}
