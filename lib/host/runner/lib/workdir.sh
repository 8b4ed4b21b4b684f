# shellcheck shell=bash
# A session's work dir on the host ($DEBUG_TASK_HOME/<session>) and the runners that own one.

prepare_workdir() {
  # umask 077: new directories are 0700. A fork (~3 ms here) only on a host's first session.
  if [[ ! -d $WORK_ROOT ]]; then mkdir -p -- "$WORK_ROOT"; fi
  if [[ -e $WORK ]]; then
    if [[ -e $WORK/keep-until ]]; then
      fail CAPTURE_FAILED "Session $SESSION already has an artifact kept on this host ($(kept_artifact_path)); run the cleanup action first."
    fi
    rm -rf -- "$WORK"
  fi
  mkdir -m 0700 -- "$WORK" "$OUT" "$WORK/bin"
  WORKDIR_CREATED=1
  # For a later sweep: when this session expires, and which process runs it (pid and start time,
  # so a new process that reuses the pid is not taken for this runner).
  printf '%s\n' "${P[expiresAt]}" >"$WORK/expires-at"
  local start
  process_start_to start "$$"
  printf '%s %s\n' "$$" "$start" >"$WORK/runner.pid"
  # Scripts go in by file, read-only at /debug-task: short command lines in ps and docker ps.
  printf '%s' "$TOOLBOX_SCRIPT" >"$WORK/bin/toolbox.sh"
  printf '%s' "$SNAPSHOT_SCRIPT" >"$WORK/bin/snapshot.sh"
  printf '%s' "$FINISH_PCAP_SCRIPT" >"$WORK/bin/finish-pcap.sh"
  printf '%s' "$RING_SCRIPT" >"$WORK/bin/ring.sh"
}

# A cleanup leaves <session>.ended under the work root (its content: the session's expiresAt; the
# sweep removes it after that), before it looks for the session's runners; a capture (a plan, or one
# of its children) looks for it after it wrote its runner.pid. Whichever comes second sees the other:
# a capture starting as its session is cancelled is either stopped by the cleanup or refuses to
# start. Without it, a cleanup that ran before the plan's runner.pid existed (the two commands reach
# the host together) found nothing to stop, and the capture ran on unseen after its CANCELLED.
mark_session_ended() {
  local mark=$WORK_ROOT/$SESSION$ENDED_MARK_SUFFIX until=${P[expiresAt]-}
  # A cleanup without expiresAt (by hand): kept longer than any capture can last (durationSeconds
  # has 5 digits: under 28 hours).
  if [[ -z $until ]]; then until=$(($(date +%s) + 2 * 86400)); fi
  mkdir -p -- "$WORK_ROOT"
  if [[ -L $mark ]]; then rm -f -- "$mark"; fi
  printf '%s\n' "$until" >"$mark"
}

# Fails CANCELLED when a cleanup ended this session (or, for a child, its parent) on this host.
refuse_if_ended() {
  local id
  for id in "$SESSION" "${SESSION%-[0-9][0-9][0-9][0-9]}"; do
    if [[ -e $WORK_ROOT/$id$ENDED_MARK_SUFFIX ]]; then
      fail CANCELLED "Session $id was cleaned up on this host (cancelled, failed or timed out) before this capture started: nothing was started."
    fi
  done
}

# True while the runner that wrote the dir's runner.pid still runs (same pid, same start time): it
# may be uploading past expiresAt, within SSM's execution timeout.
runner_alive() {
  local pid='' start=''
  if [[ ! -f $1/runner.pid ]]; then return 1; fi
  read -r pid start <"$1/runner.pid" || true
  [[ $pid =~ ^[0-9]+$ && -n $start && $(process_start "$pid") == "$start" ]]
}


# One session's watchdog and work dir (a kept artifact stays until its keep-until). CLEANED says
# what happened: watchdog true when any was stopped; workDir kept over removed over absent.
declare -A CLEANED=()
RUNNERS_STOPPED=0

cleanup_workdir() {
  local SESSION=$1 WORK=$WORK_ROOT/$1
  if stop_watchdog; then CLEANED[watchdog]=true; fi
  if [[ ! -d $WORK ]]; then return 0; fi
  if kept_artifact_still_wanted; then
    CLEANED[workDir]=kept
    if [[ $SESSION == "${P[sessionId]}" ]]; then HOST_PATH=$(kept_artifact_path); fi
  else
    rm -rf -- "$WORK"
    if [[ ${CLEANED[workDir]} != kept ]]; then CLEANED[workDir]=removed; fi
  fi
}

# Sends SIGTERM to the runner of each work dir given (runner.pid: pid and start time) that still
# runs, and waits until they are gone.
stop_runners() {
  local dir pid start now_start
  local -a alive=()
  for dir in "$@"; do
    pid='' start='' now_start=''
    if [[ ! -f $dir/runner.pid ]]; then continue; fi
    read -r pid start <"$dir/runner.pid" || true
    if ! [[ $pid =~ ^[0-9]+$ ]] || ((pid == $$)); then continue; fi
    process_start_to now_start "$pid"
    if [[ -n $start && $now_start == "$start" ]] && kill -TERM "$pid" 2>/dev/null; then alive+=("$pid"); fi
  done
  RUNNERS_STOPPED=$((RUNNERS_STOPPED + ${#alive[@]}))
  wait_gone "${alive[@]}"
}

# Waits until none of the pids runs, PLAN_STOP_SECONDS + 5 at most; then sends SIGKILL.
wait_gone() {
  local pids=("$@") i _
  for _ in $(seq $(((PLAN_STOP_SECONDS + 5) * 10))); do
    for i in "${!pids[@]}"; do
      if ! kill -0 "${pids[i]}" 2>/dev/null; then unset 'pids[i]'; fi
    done
    if ((${#pids[@]} == 0)); then return 0; fi
    sleep 0.1
  done
  log "${#pids[@]} runner(s) still running after $((PLAN_STOP_SECONDS + 5))s: killing them"
  kill -KILL "${pids[@]}" 2>/dev/null || true
}

# The session's containers; with "children", its children's <id>-NNNN too. Prints how many.
remove_session_containers() {
  local ids='' count=0 id session
  if [[ ${1-} == children ]]; then
    while read -r id session; do
      if [[ $session == "$SESSION" || $session == "$SESSION"-[0-9][0-9][0-9][0-9] ]]; then ids+=" $id"; fi
    done < <(dk ps -a --no-trunc --filter "label=$LABEL_SESSION" --format "$(tmpl .ID) $(tmpl ".Label \"$LABEL_SESSION\"")" 2>/dev/null || true)
  else
    ids=$(dk ps -aq --filter "label=$LABEL_SESSION=$SESSION" 2>/dev/null || true)
  fi
  if [[ -n $ids ]]; then
    count=$(wc -w <<<"$ids")
    # shellcheck disable=SC2086 # container ids: one word each
    dk rm -f $ids >/dev/null 2>&1 || true
  fi
  echo "$count"
}
