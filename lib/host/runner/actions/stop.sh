# shellcheck shell=bash
# action=stop: end a session's captures on this host now, and KEEP them: each capture's tool is
# stopped exactly as at the end of its duration, and its own runner then packages, uploads and
# reports it as usual (with "stoppedEarly"). `cancel` (action=cleanup) is the one that discards.

# A session's id (no -NNNN) covers its children <id>-NNNN; a child's id, that child only. Each
# capture gets a stop marker in its work dir (stop_marker), then its tool is signalled when its
# toolbox runs; a capture whose toolbox has not started yet sees the marker right after its start
# (stop_if_asked) and stops itself. The action does not wait for the uploads: their runners do.
stop_session() {
  local id dir marked=0 signalled=0
  local -a ids=()
  if [[ -d $WORK && ! -L $WORK && ! -f $WORK/$PLAN_PARENT_MARKER ]]; then ids+=("$SESSION"); fi
  if [[ $SESSION =~ ^dt-[a-z0-9]+-[a-z0-9]+$ ]]; then
    for dir in "$WORK_ROOT/$SESSION"-[0-9][0-9][0-9][0-9]; do
      if [[ -d $dir && ! -L $dir ]]; then ids+=("${dir##*/}"); fi
    done
  fi
  for id in "${ids[@]}"; do
    # A kept artifact's dir is a capture that already ended: nothing to stop there.
    if [[ -e $WORK_ROOT/$id/keep-until ]] || ! runner_alive "$WORK_ROOT/$id"; then continue; fi
    stop_marker "$WORK_ROOT/$id"
    marked=$((marked + 1))
    if claim_stop "$WORK_ROOT/$id" "debug-task-$id" && signal_toolbox "debug-task-$id"; then
      signalled=$((signalled + 1))
    fi
  done
  log "stop: ${#ids[@]} capture(s) here, $marked asked to stop, $signalled tool(s) signalled now"
  CLEANUP_REPORT=$(printf '"stop":{"captures":%s,"signalled":%s}' "$marked" "$signalled")
  STATUS=OK
}
