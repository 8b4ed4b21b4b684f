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

# The end of every action: the manifest built (for a run: written next to the artifact and put at
# manifestUrl, after the artifact), everything started torn down, the manifest printed as the last
# line of stdout, the exit status of the error code.
on_exit() {
  local status=$?
  trap '' INT TERM HUP
  set +e
  if [[ -z $ERROR_CODE && $STATUS != OK ]]; then
    ERROR_CODE=CAPTURE_FAILED
    ERROR_MESSAGE="The runner stopped unexpectedly (status $status) at line ${FAILED_LINE:-?}: ${FAILED_COMMAND:-unknown command}"
  fi
  case ${P[action]-run} in
    run)
      teardown_started
      MANIFEST=$(session_manifest_json)
      deliver_manifest
      teardown_workdir
      ;;
    reupload)
      if [[ -n $SHARE_ACTION ]]; then
        plan_teardown
      else
        finish_reupload
      fi
      ;;
    plan) plan_teardown ;;
    sweep) MANIFEST=$(sweep_manifest_json) ;;
    *) MANIFEST=$(session_manifest_json) ;;
  esac
  print_manifest
  if [[ -n $ERROR_CODE ]]; then log "failed: $ERROR_CODE: $ERROR_MESSAGE"; fi
  exit "$(exit_status)"
}

# One child's re-upload ends: on success its manifest goes to manifestUrl and its work dir is
# removed (the artifact is in S3); on failure the kept artifact stays exactly as it was, and so
# does its manifest in S3.
finish_reupload() {
  MANIFEST=$(session_manifest_json)
  if ((REUPLOADED)); then
    deliver_manifest
    rm -rf -- "$WORK"
    log "removed $WORK"
  fi
  reupload_teardown
}

# The last line of stdout. A run given a manifestUrl says whether its manifest reached it
# ("manifestUploaded"): when not, this printed line is the only report of the run.
print_manifest() {
  local json=$MANIFEST
  if [[ -n $MANIFEST_UPLOADED ]]; then json="${json%\}},\"manifestUploaded\":$MANIFEST_UPLOADED}"; fi
  printf '%s\n' "$json" >&3
}

# What a run started: the command it waited for, the ECR credentials, its containers, its watchdog.
teardown_started() {
  # A failure may come while the host lock is held (start_toolbox_overlapped): the other runners of
  # the host need not wait for this one's teardown and manifest.
  release_host_lock
  if [[ -n $CHILD_PID ]]; then kill -TERM "$CHILD_PID" 2>/dev/null || true; fi
  if [[ -n $HASH_PID ]]; then kill -TERM "$HASH_PID" 2>/dev/null || true; fi
  stop_follow
  remove_registry_auth
  # The overlapped start's background docker calls, when a refusal came first: a gated toolbox's
  # run that ended after the look below would leave its container behind (both end within
  # DOCKER_CALL_TIMEOUT); the look then removes it, unopened, before the manifest is reported.
  if [[ -n $TOOLBOX_RUN_PID ]]; then wait "$TOOLBOX_RUN_PID" 2>/dev/null || true; fi
  if [[ -n $SESSIONS_PID ]]; then wait "$SESSIONS_PID" 2>/dev/null || true; fi
  # The toolbox's removal started once it ended (remove_toolbox_async): awaited, never cut short.
  if [[ -n $REMOVE_PID ]]; then wait "$REMOVE_PID" 2>/dev/null || true; fi
  # The look for the session's leftover containers (a docker ps, ~40 ms of every session's end) is
  # for a run that did not end OK: one that did removed its toolbox itself (remove_toolbox_async,
  # checked by await_toolbox_removal before it reports), and each helper container it ran (filter
  # check, pcap rewrite) was a foreground docker run --rm that ended with status 0 (the CLI returns
  # once the container is removed).
  if ((CREATED_CONTAINERS)) && [[ $STATUS != OK ]]; then remove_session_containers >/dev/null; fi
  if ((WATCHDOG_STARTED)); then
    await_watchdog_pid
    stop_watchdog || true
  fi
}

# A run's work dir, once its manifest is delivered: removed, or, with a kept artifact, reduced to
# the artifact, its keep-until, its facts and its manifest.
teardown_workdir() {
  if ((WORKDIR_CREATED)); then
    if ((KEEP_WORKDIR)); then
      find "$WORK" -mindepth 1 -maxdepth 1 ! -name 'artifact.*.gz' ! -name keep-until ! -name "$FACTS_FILE" \
        ! -name "$MANIFEST_FILE" -exec rm -rf -- {} +
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

# The sweep's manifest (SweepManifest).
sweep_manifest_json() {
  printf '{"v":1,"action":"sweep","status":%s%s' "$(json_str "$STATUS")" "$(error_json)"
  if [[ -n $SWEEP_REPORT ]]; then printf ',%s' "$SWEEP_REPORT"; fi
  printf ',"timings":{"startedAt":%s,"endedAt":%s}}' "$(json_num "$STARTED_AT")" "$(now_ms)"
}

# The manifest of a run, a child's re-upload or a cleanup (RunnerManifest, lib/domain/). Its
# strings and numbers are printed in place (json_str, json_num), not through $(...): a subshell each
# was ~35 forks at the end of every run.
session_manifest_json() {
  local instance=${AWS_SSM_INSTANCE_ID-} pattern_var=PATTERN_instanceId ended
  printf '{"v":1,"sessionId":'
  json_str "$SESSION"
  printf ',"status":'
  json_str "$STATUS"
  if [[ ${P[action]-} =~ ^(cleanup|reupload|stop)$ ]]; then printf ',"action":"%s"' "${P[action]}"; fi
  error_json
  printf ',"tool":{"name":'
  if [[ ${P[tool]-} =~ ^(tcpdump|ngrep|strace|snapshot)$ ]]; then json_str "${P[tool]}"; else printf null; fi
  printf ',"exitCode":'
  json_num "$TOOL_EXIT"
  if [[ ${P[tool]-} == tcpdump && -n $TOOL_EXIT ]]; then
    printf ',"packets":'
    json_num "$PACKETS"
    printf ',"dropped":'
    json_num "$DROPPED"
  fi
  printf '}'
  # A capture of no packet is a result, not a failure, but never a silent one (the CLI says the same).
  if [[ ${P[tool]-} == tcpdump && $STATUS != FAILED && $PACKETS == 0 ]]; then
    printf ',"warnings":["0 packets captured: the filter matched nothing, the traffic is on another interface (or on lo, between containers of one task), or nothing was sent."]'
  fi
  if [[ -n $OBJECT_SHA ]]; then artifact_json; fi
  if [[ -n $CLEANUP_REPORT ]]; then printf ',%s' "$CLEANUP_REPORT"; fi
  if [[ -n $STOPPED_AT ]]; then printf ',"stoppedEarly":true'; fi
  if [[ ${P[action]-} =~ ^(run|reupload)$ && -n $ARTIFACT_SHA ]]; then ring_json; fi
  if [[ ${P[action]-} == run ]]; then follow_json; fi
  if [[ ${P[action]-} == run ]]; then
    printf ',"audit":{"caller":'
    json_str "${P[caller]-}"
    printf ',"reason":'
    json_str "${P[reason]-}"
    printf '}'
  fi
  if [[ $instance =~ ${!pattern_var} ]]; then
    printf ',"instanceId":'
    json_str "$instance"
  fi
  # How the parameters reached the runner (the document's bootstrap sets it): env or text.
  if [[ ${DEBUG_TASK_PARAM_MODE-} =~ ^(env|text)$ ]]; then printf ',"paramMode":"%s"' "$DEBUG_TASK_PARAM_MODE"; fi
  printf ',"timings":{"startedAt":'
  json_num "$STARTED_AT"
  if [[ -n $CAPTURE_STARTED_AT ]]; then printf ',"captureStartedAt":%s' "$CAPTURE_STARTED_AT"; fi
  if [[ -n $CAPTURE_ENDED_AT ]]; then printf ',"captureEndedAt":%s' "$CAPTURE_ENDED_AT"; fi
  if [[ -n $STOPPED_AT ]]; then printf ',"stoppedAt":%s' "$STOPPED_AT"; fi
  stamp_ms ended
  printf ',"endedAt":%s}}' "$ended"
}

# At most 1000 characters of message: enough for what failed, what to do and AWS's own words.
error_json() {
  if [[ -n $ERROR_CODE ]]; then
    printf ',"error":{"code":'
    json_str "$ERROR_CODE"
    printf ',"message":'
    json_str "${ERROR_MESSAGE:0:1000}"
    printf '}'
  fi
}

artifact_json() {
  printf ',"artifact":{"format":'
  if [[ ${P[tool]} == tcpdump ]]; then printf '"pcap"'; else printf '"text"'; fi # tool_format
  printf ',"compression":"gzip","bytes":'
  json_num "$ARTIFACT_BYTES"
  printf ',"sha256":'
  json_str "$ARTIFACT_SHA"
  printf ',"objectBytes":'
  json_num "$OBJECT_BYTES"
  printf ',"objectSha256":'
  json_str "$OBJECT_SHA"
  if [[ -n $LINK_TYPE ]]; then
    printf ',"linkType":'
    json_str "$LINK_TYPE"
  fi
  printf ',"truncated":%s,"uploaded":%s' "$TRUNCATED" "$UPLOADED"
  if [[ -n $HOST_PATH ]]; then
    printf ',"hostPath":'
    json_str "$HOST_PATH"
  fi
  printf '}'
}
