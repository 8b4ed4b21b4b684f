# shellcheck shell=bash
# action=reupload: the artifacts failed uploads kept on this host, to fresh upload URLs. With a
# planUrl: a session's re-upload, one child per line of this host (actions/plan.sh: run_share);
# without: one child's (reupload_artifact, as each of those children runs).

reupload_action() {
  if [[ -n ${P[planUrl]} ]]; then
    run_share reupload
  else
    reupload_artifact
  fi
}

# One child's artifact that a failed upload left (keep_artifact), to a fresh uploadUrl, with the
# same upload and retries as a run. Starts no container. On success its manifest goes to
# manifestUrl and nothing of the child is left on the host (finish_reupload); on failure the
# artifact stays kept as it was, and its manifest in S3 (the run's) is left as it is.
reupload_artifact() {
  require_param uploadUrl
  local gz start until
  gz=$(kept_artifact_path)
  if [[ -L $WORK || ! -f $WORK/keep-until || -z $gz ]]; then
    fail ARTIFACT_NOT_ON_HOST "No artifact of session $SESSION is kept on this host (nothing under $WORK): it is gone. Either it was never kept (its upload succeeded, or the session failed before its capture was packaged), or it was removed after its keep-until (by the cleanup action or the sweeper), or it was already re-uploaded (a successful re-upload removes it from the host)."
  fi
  if runner_alive "$WORK"; then
    fail HOST_BUSY "Another runner is already re-uploading the artifact of session $SESSION on this host; wait for it to end."
  fi
  # The sweeper leaves a work dir alone while the runner named in its runner.pid lives.
  process_start_to start "$$"
  if ! { printf '%s %s\n' "$$" "$start" >"$WORK/runner.pid"; } 2>/dev/null; then
    fail ARTIFACT_NOT_ON_HOST "The artifact of session $SESSION was removed from this host (by the sweeper or a cleanup) just as its re-upload began: it is gone."
  fi
  REUPLOAD_CLAIMED=1
  read_artifact_facts "$gz"
  HOST_PATH=$gz
  until=$(tr -dc 0-9 <"$WORK/keep-until" || true)
  log "re-uploading $gz ($OBJECT_BYTES bytes, kept until $(utc_date "${until:-0}"))"
  if upload "$gz" "${P[uploadUrl]}"; then
    UPLOADED=true
    STATUS=OK
    HOST_PATH=''
    REUPLOADED=1
    log "uploaded to $(redact_url "${P[uploadUrl]}")"
    return 0
  fi
  fail UPLOAD_FAILED "The re-upload to $(redact_url "${P[uploadUrl]}") failed $UPLOAD_TRIES times ($(last_lines "$WORK/curl.err" 1)); the artifact is still kept at $gz until $(utc_date "${until:-0}")."
}
