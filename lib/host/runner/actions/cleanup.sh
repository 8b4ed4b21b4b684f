# shellcheck shell=bash
# action=cleanup: whatever is left of a session (and of all its children) on this host.

# First the session's end mark (mark_session_ended): nothing of it starts here after this cleanup.
# A session's id (no -NNNN) also covers its children <id>-NNNN: the plan's runner is stopped first
# (it stops its children, each removing what it started), then any child runner left; then whatever
# is left of the session and of every child goes as one run's does. A child's id: that child only.
cleanup_session() {
  local removed id dir
  local -a ids=("$SESSION")
  mark_session_ended
  if [[ $SESSION =~ ^dt-[a-z0-9]+-[a-z0-9]+$ ]]; then
    if [[ -f $WORK/$PLAN_PARENT_MARKER ]]; then stop_runners "$WORK"; fi
    stop_runners "$WORK_ROOT/$SESSION"-[0-9][0-9][0-9][0-9]
    removed=$(remove_session_containers children)
    for dir in "$WORK_ROOT/$SESSION"-[0-9][0-9][0-9][0-9]; do
      if [[ -d $dir && ! -L $dir ]]; then ids+=("${dir##*/}"); fi
    done
  else
    removed=$(remove_session_containers)
  fi
  CLEANED=([watchdog]=false [workDir]=absent)
  for id in "${ids[@]}"; do cleanup_workdir "$id"; done
  log "cleanup: removed $removed container(s), watchdog stopped: ${CLEANED[watchdog]}, work dir: ${CLEANED[workDir]}, child sessions: $((${#ids[@]} - 1)), runners stopped: $RUNNERS_STOPPED"
  CLEANUP_REPORT=$(printf '"cleanup":{"containersRemoved":%s,"watchdogStopped":%s,"workDir":%s' \
    "$(json_num "$removed")" "${CLEANED[watchdog]}" "$(json_str "${CLEANED[workDir]}")")
  if ((${#ids[@]} > 1 || RUNNERS_STOPPED > 0)); then
    CLEANUP_REPORT+=$(printf ',"childSessions":%s,"runnersStopped":%s' "$((${#ids[@]} - 1))" "$RUNNERS_STOPPED")
  fi
  CLEANUP_REPORT+='}'
  STATUS=OK
}
