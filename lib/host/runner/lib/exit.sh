# shellcheck shell=bash
# How the runner ends: the first error recorded, everything it started torn down, the manifest
# printed as the last line of stdout, the exit status of the error code.

# Records the first error and exits; the EXIT trap tears down and prints the manifest.
fail() {
  if [[ -z $ERROR_CODE ]]; then
    ERROR_CODE=$1 ERROR_MESSAGE=$2
    if [[ $1 == UPLOAD_FAILED ]]; then STATUS=UPLOAD_FAILED; else STATUS=FAILED; fi
  fi
  exit 1
}

on_signal() {
  fail CANCELLED "The runner received SIG$1 (the session was cancelled or ran out of time); everything it started was removed."
}

on_exit() {
  local status=$?
  trap '' INT TERM HUP
  set +e
  if [[ -z $ERROR_CODE && $STATUS != OK ]]; then
    ERROR_CODE=CAPTURE_FAILED
    ERROR_MESSAGE="The runner stopped unexpectedly (status $status) at line ${FAILED_LINE:-?}: ${FAILED_COMMAND:-unknown command}"
  fi
  if [[ ${P[action]-run} == run ]]; then teardown; fi
  if [[ ${P[action]-} == reupload ]]; then reupload_teardown; fi
  if [[ ${P[action]-} == fleet ]]; then fleet_teardown; fi
  emit_manifest
  if [[ -n $ERROR_CODE ]]; then log "failed: $ERROR_CODE: $ERROR_MESSAGE"; fi
  exit "$(exit_status)"
}

teardown() {
  if [[ -n $CHILD_PID ]]; then kill -TERM "$CHILD_PID" 2>/dev/null || true; fi
  remove_registry_auth
  if ((CREATED_CONTAINERS)); then remove_session_containers >/dev/null; fi
  if ((WATCHDOG_STARTED)); then stop_watchdog || true; fi
  if ((WORKDIR_CREATED)); then
    if ((KEEP_WORKDIR)); then
      find "$WORK" -mindepth 1 -maxdepth 1 ! -name 'artifact.*.gz' ! -name keep-until ! -name "$FACTS_FILE" -exec rm -rf -- {} +
    else
      rm -rf -- "$WORK"
    fi
  fi
}

# A failed re-upload leaves the kept artifact as it found it: artifact, keep-until, facts.
reupload_teardown() {
  if ((REUPLOAD_CLAIMED)) && [[ -d $WORK ]]; then rm -f -- "$WORK/runner.pid" "$WORK/curl.err"; fi
}

# The exit status of the error recorded (0: none), from EXIT_STATUS: the CLI's exit code of that
# error code (lib/domain/errors.ts, generated). A code missing there fails as the host's fault.
exit_status() {
  if [[ -z $ERROR_CODE ]]; then
    echo 0
  elif [[ -v EXIT_STATUS[$ERROR_CODE] ]]; then
    echo "${EXIT_STATUS[$ERROR_CODE]}"
  else
    echo "$EXIT_STATUS_HOST"
  fi
}

emit_manifest() {
  local json tool=null
  if [[ ${P[action]-} == sweep ]]; then
    json=$(printf '{"v":1,"action":"sweep","status":%s%s' "$(json_str "$STATUS")" "$(error_json)")
    if [[ -n $SWEEP_REPORT ]]; then json+=",$SWEEP_REPORT"; fi
    json+=$(printf ',"timings":{"startedAt":%s,"endedAt":%s}}' "$(json_num "$STARTED_AT")" "$(now_ms)")
    printf '%s\n' "$json" >&3
    return 0
  fi
  if [[ ${P[action]-} == fleet ]]; then
    json=$(printf '{"v":1,"action":"fleet","sessionId":%s,"instanceId":%s,"status":%s%s,"children":[%s]' \
      "$(json_str "$SESSION")" "$(json_str "$INSTANCE_ID")" "$(json_str "$STATUS")" "$(error_json)" "$FLEET_JSON")
    json+=$(printf ',"timings":{"startedAt":%s,"endedAt":%s}}' "$(json_num "$STARTED_AT")" "$(now_ms)")
    printf '%s\n' "$json" >&3
    return 0
  fi
  if [[ ${P[tool]-} =~ ^(tcpdump|ngrep|strace|snapshot)$ ]]; then tool=$(json_str "${P[tool]}"); fi
  json=$(printf '{"v":1,"sessionId":%s,"status":%s' "$(json_str "$SESSION")" "$(json_str "$STATUS")")
  if [[ ${P[action]-} == cleanup || ${P[action]-} == reupload ]]; then json+=$(printf ',"action":"%s"' "${P[action]}"); fi
  json+=$(error_json)
  json+=$(printf ',"tool":{"name":%s,"exitCode":%s' "$tool" "$(json_num "$TOOL_EXIT")")
  if [[ ${P[tool]-} == tcpdump && -n $TOOL_EXIT ]]; then
    json+=$(printf ',"packets":%s,"dropped":%s' "$(json_num "$PACKETS")" "$(json_num "$DROPPED")")
  fi
  json+='}'
  if [[ -n $OBJECT_SHA ]]; then json+=$(artifact_json); fi
  if [[ -n $CLEANUP_REPORT ]]; then json+=",$CLEANUP_REPORT"; fi
  if [[ ${P[action]-} == run && -z $FLEET_CHILD ]]; then
    json+=$(printf ',"audit":{"caller":%s,"reason":%s}' "$(json_str "${P[caller]-}")" "$(json_str "${P[reason]-}")")
  fi
  json+=$(printf ',"timings":{"startedAt":%s' "$(json_num "$STARTED_AT")")
  if [[ -n $CAPTURE_STARTED_AT ]]; then json+=$(printf ',"captureStartedAt":%s' "$CAPTURE_STARTED_AT"); fi
  if [[ -n $CAPTURE_ENDED_AT ]]; then json+=$(printf ',"captureEndedAt":%s' "$CAPTURE_ENDED_AT"); fi
  json+=$(printf ',"endedAt":%s}}' "$(now_ms)")
  printf '%s\n' "$json" >&3
}

# At most 1000 characters of message: enough for what failed, what to do and AWS's own words,
# small beside the 24,000 characters of output SSM keeps. 300 in a fleet (its manifest and each
# child's): many share those 24,000.
error_json() {
  local max=1000
  if [[ -n $FLEET_CHILD || ${P[action]-} == fleet ]]; then max=300; fi
  if [[ -n $ERROR_CODE ]]; then
    printf ',"error":{"code":%s,"message":%s}' "$(json_str "$ERROR_CODE")" "$(json_str "${ERROR_MESSAGE:0:max}")"
  fi
}

artifact_json() {
  printf ',"artifact":{"format":%s,"compression":"gzip","bytes":%s,"sha256":%s,"objectBytes":%s,"objectSha256":%s' \
    "$(json_str "$(tool_format "${P[tool]}")")" "$(json_num "$ARTIFACT_BYTES")" "$(json_str "$ARTIFACT_SHA")" \
    "$(json_num "$OBJECT_BYTES")" "$(json_str "$OBJECT_SHA")"
  if [[ -n $LINK_TYPE ]]; then printf ',"linkType":%s' "$(json_str "$LINK_TYPE")"; fi
  printf ',"truncated":%s,"uploaded":%s' "$TRUNCATED" "$UPLOADED"
  if [[ -n $HOST_PATH ]]; then printf ',"hostPath":%s' "$(json_str "$HOST_PATH")"; fi
  printf '}'
}
