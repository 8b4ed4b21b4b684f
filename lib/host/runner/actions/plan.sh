# shellcheck shell=bash
# action=plan: this host's share of a session's plan (lib/domain/host-plan.ts), one child `run` per
# line; and a session's re-upload (action=reupload with a planUrl), one child `reupload` per line.
# Every session is a plan: a single task's is a plan of one. Each child puts its own manifest in S3
# next to its artifact; the parent prints only a short summary (lib/domain/host-summary.ts).

run_plan() {
  run_share run
}

# One process per line: this script again, as action=$1 (run or reupload), with the line's child
# id, container id and URLs (every other parameter is the parent's, from the environment). Each
# child keeps its own state, traps, host lock and watchdog, exactly as a single run does, and the
# per-host cap (maxSessions) counts each child.
run_share() {
  local i
  SHARE_ACTION=$1
  check_share_params
  prepare_share_workdir
  if [[ $SHARE_ACTION == run ]]; then refuse_if_ended; fi
  fetch_plan
  read_share
  for i in "${!SHARE_IDS[@]}"; do
    SSM_action=$SHARE_ACTION SSM_sessionId=${SHARE_IDS[i]} SSM_containerId=${SHARE_CONTAINERS[i]} \
      SSM_uploadUrl=${SHARE_ARTIFACT_URLS[i]} SSM_manifestUrl=${SHARE_MANIFEST_URLS[i]} SSM_planUrl='' \
      SSM_chunkUrl=${SHARE_CHUNK_URLS[i]} DEBUG_TASK_SHARE_SIZE=${#SHARE_IDS[@]} \
      "$BASH" "$SELF" </dev/null >"$WORK/children/$i" 3>&- &
    CHILD_PIDS+=("$!")
  done
  log "started ${#CHILD_PIDS[@]} child $SHARE_ACTION(s)"
  # A signal interrupts wait at once; its trap stops the children (stop_children).
  for i in "${!CHILD_PIDS[@]}"; do wait "${CHILD_PIDS[i]}" || true; done
  STATUS=OK
}

# What a share needs: the session's own id (its children add -NNNN), the plan, for a capture the
# session's parameters but containerId, the instance id the SSM agent sets, and this script
# readable again (each child runs it).
check_share_params() {
  local name pattern_var=PATTERN_instanceId instance=${AWS_SSM_INSTANCE_ID-}
  require_param planUrl
  if [[ $SHARE_ACTION == run ]]; then
    for name in tool durationSeconds maxBytes image expiresAt; do require_param "$name"; done
  fi
  if ! [[ $SESSION =~ ^dt-[a-z0-9]+-[a-z0-9]+$ ]]; then
    fail INVALID_ARGUMENT "sessionId $SESSION is a child's id: a plan takes the session's own id (dt-<time>-<random>)."
  fi
  if ! [[ $instance =~ ${!pattern_var} ]]; then
    fail INVALID_ARGUMENT "AWS_SSM_INSTANCE_ID \"${instance:0:40}\" is not an instance id: a plan needs the one the SSM agent sets, to find this host's lines."
  fi
  INSTANCE_ID=$instance
  SELF=$0
  if [[ $SELF != /* ]]; then SELF=$PWD/$SELF; fi
  if [[ ! -f $SELF || ! -r $SELF ]]; then
    fail CAPTURE_FAILED "The runner cannot start its children: its script ($SELF) is not a readable file."
  fi
}

# The parent's own work dir ($WORK, the session's id): the children's stdout, its runner.pid and
# expires-at for the sweep, and a marker that tells cleanup to stop this runner first.
prepare_share_workdir() {
  local start
  mkdir -p -- "$WORK_ROOT"
  if runner_alive "$WORK"; then
    fail CAPTURE_FAILED "The plan of session $SESSION already runs on this host."
  fi
  rm -rf -- "$WORK"
  mkdir -m 0700 -- "$WORK" "$WORK/children"
  WORKDIR_CREATED=1
  : >"$WORK/$PLAN_PARENT_MARKER"
  if [[ -n ${P[expiresAt]} ]]; then printf '%s\n' "${P[expiresAt]}" >"$WORK/expires-at"; fi
  process_start_to start "$$"
  printf '%s %s\n' "$$" "$start" >"$WORK/runner.pid"
}

# The plan, by its presigned GET: a few tries (connection refused, timeouts, 429 and 5xx); an
# answer of 4xx (an expired or foreign URL) is the argument's fault. The URL is shown without its
# query (the signature).
fetch_plan() {
  local code status=0 why
  interruptible curl --fail -sS -o "$WORK/plan.tsv" -w '%{http_code}' --connect-timeout 5 --max-time 30 \
    --retry 3 --retry-connrefused --retry-max-time 60 --max-filesize 16000000 \
    "${P[planUrl]}" >"$WORK/plan.code" 2>"$WORK/plan.err" || status=$?
  if ((status == 0)); then return 0; fi
  code=$(tr -dc 0-9 <"$WORK/plan.code")
  why=$(last_lines "$WORK/plan.err" 1)
  why="The plan could not be read from $(redact_url "${P[planUrl]}"): ${why:-curl failed with status $status}"
  if [[ $code == 4* ]]; then fail INVALID_ARGUMENT "$why (an expired or wrong presigned URL?)"; fi
  fail CAPTURE_FAILED "$why"
}

# Keeps the plan's lines of this instance, each checked field by field before anything starts: one
# bad line refuses the whole share. Other instances' lines are not looked at beyond their first
# field. A capture's line names a container; a re-upload's has NO_CONTAINER there.
read_share() {
  local header line number=1 child cid artifact_url manifest_url tab=$'\t' seen=' '
  # A sixth field, the child's chunk form, when the session is followed (host-plan.ts).
  local re="^[^$tab]*$tab([^$tab]*)$tab([^$tab]*)$tab([^$tab]*)$tab([^$tab]*)($tab([^$tab]*))?\$" chunk_url
  {
    IFS= read -r header || true
    if [[ $header != "$PLAN_HEADER" ]]; then
      fail INVALID_ARGUMENT "The plan does not start with \"$PLAN_HEADER\" (line 1 is \"$(json_escape "${header:0:40}")\")."
    fi
    while IFS= read -r line || [[ -n $line ]]; do
      number=$((number + 1))
      if [[ $line != "$INSTANCE_ID$tab"* ]]; then continue; fi
      if ! [[ $line =~ $re ]]; then
        fail INVALID_ARGUMENT "Line $number of the plan does not hold 5 (or 6) fields separated by one TAB."
      fi
      child=${BASH_REMATCH[1]} cid=${BASH_REMATCH[2]} artifact_url=${BASH_REMATCH[3]} manifest_url=${BASH_REMATCH[4]}
      chunk_url=${BASH_REMATCH[6]-}
      if ! valid_value sessionId "$child" || [[ $child != "$SESSION"-[0-9][0-9][0-9][0-9] ]]; then
        fail INVALID_ARGUMENT "Line $number of the plan: \"$(json_escape "${child:0:60}")\" is not a child of $SESSION ($SESSION-NNNN)."
      fi
      if [[ $seen == *" $child "* ]]; then fail INVALID_ARGUMENT "Line $number of the plan repeats $child."; fi
      check_share_container "$number" "$cid"
      if [[ $SHARE_ACTION == reupload ]]; then cid=''; fi
      if ! valid_value uploadUrl "$artifact_url"; then
        fail INVALID_ARGUMENT "Line $number of the plan: its artifact URL is invalid (not shown: it carries a signature)."
      fi
      if ! valid_value manifestUrl "$manifest_url"; then
        fail INVALID_ARGUMENT "Line $number of the plan: its manifest URL is invalid (not shown: it carries a signature)."
      fi
      if ! valid_value chunkUrl "$chunk_url"; then
        fail INVALID_ARGUMENT "Line $number of the plan: its chunk form is invalid (not shown: it carries a signature)."
      fi
      seen+="$child "
      SHARE_CHUNK_URLS+=("$chunk_url")
      SHARE_IDS+=("$child")
      SHARE_CONTAINERS+=("$cid")
      SHARE_ARTIFACT_URLS+=("$artifact_url")
      SHARE_MANIFEST_URLS+=("$manifest_url")
    done
  } <"$WORK/plan.tsv"
  rm -f -- "$WORK/plan.tsv" # it holds the other hosts' presigned URLs
  log "the plan gives $INSTANCE_ID ${#SHARE_IDS[@]} line(s) to $SHARE_ACTION"
}

# A capture's line names the target's Docker id; a re-upload's starts nothing: NO_CONTAINER. Line
# $1, container field $2.
check_share_container() {
  local number=$1 cid=$2
  if [[ $SHARE_ACTION == reupload ]]; then
    if [[ $cid != "$NO_CONTAINER" ]]; then
      fail INVALID_ARGUMENT "Line $number of the plan: a re-upload's line names no container (\"$NO_CONTAINER\"), not \"$(json_escape "${cid:0:70}")\"."
    fi
  elif [[ -z $cid ]] || ! valid_value containerId "$cid"; then
    fail INVALID_ARGUMENT "Line $number of the plan: \"$(json_escape "${cid:0:70}")\" is not a container id (12 to 64 hex characters)."
  fi
}

# Stops the children still running (each removes what it started and puts its manifest, as on any
# signal) and waits for them (wait_gone; their watchdogs remove what a SIGKILL left by expiresAt).
stop_children() {
  local pid
  local -a alive=()
  for pid in "${CHILD_PIDS[@]}"; do
    if kill -TERM "$pid" 2>/dev/null; then alive+=("$pid"); fi
  done
  if ((${#alive[@]} > 0)); then
    log "stopping ${#alive[@]} child $SHARE_ACTION(s)"
    wait_gone "${alive[@]}"
  fi
  wait 2>/dev/null || true
}

# The parent's end: its children stopped (when it ends early), the summary made from what each
# child printed, the parent's work dir removed (the children's are their own).
plan_teardown() {
  stop_children
  MANIFEST=$(plan_summary_json)
  if ((WORKDIR_CREATED)); then rm -rf -- "$WORK"; fi
}

# The summary (HostSummary): the children counted by the status each printed, and the ones whose
# manifest did not reach S3 (its upload failed, or the child printed none: killed) listed, at most
# UNREPORTED_MAX, with the status, error code and the start of the message they printed (the
# control plane tells its user why from this alone). Each child's line is the runner's own manifest
# (emit_manifest), so its first fields have a known order. The work root goes along: a kept
# artifact is under it.
plan_summary_json() {
  local i id line last status code message uploaded listed=0 more=0 messages=0 unreported='' counts='' name ended
  # The message's JSON text as printed, cut at whole characters and escapes (never inside \uXXXX).
  local message_re='"message":"(([^"\\]|\\[^u]|\\u[0-9a-fA-F]{4}){0,300})'
  local -A tally=()
  for i in "${!CHILD_PIDS[@]}"; do
    id=${SHARE_IDS[i]} last=''
    while IFS= read -r line || [[ -n $line ]]; do
      if [[ -n $line ]]; then last=$line; fi
    done <"$WORK/children/$i" 2>/dev/null || true
    status=FAILED code=CAPTURE_FAILED uploaded=false message='"The child printed no manifest (killed?)."'
    if [[ $last =~ ^\{\"v\":1,\"sessionId\":\"$id\",\"status\":\"([A-Z_]+)\" ]]; then
      status=${BASH_REMATCH[1]} code=''
      message=null
      if [[ $last =~ \"error\":\{\"code\":\"([A-Z_]+)\" ]]; then code=${BASH_REMATCH[1]}; fi
      if [[ $last =~ $message_re ]]; then message="\"${BASH_REMATCH[1]}\""; fi
      if [[ $last == *'"manifestUploaded":true'* ]]; then uploaded=true; fi
    fi
    tally[$status]=$((${tally[$status]:-0} + 1))
    if [[ $uploaded == true ]]; then continue; fi
    if ((listed >= UNREPORTED_MAX)); then
      more=$((more + 1))
      continue
    fi
    listed=$((listed + 1))
    # No escaping needed, and no subshell per child: the id passed its pattern, status and code
    # are [A-Z_]+.
    if [[ -n $code ]]; then code="\"$code\""; else code=null; fi
    # Messages share a budget: 200 children listed stay under SSM's 24,000-character output cap
    # (each entry is ~100 characters without its message), so the later ones go without.
    if ((messages + ${#message} > UNREPORTED_MESSAGE_BUDGET)); then message=null; fi
    messages=$((messages + ${#message}))
    unreported+="${unreported:+,}{\"sessionId\":\"$id\",\"status\":\"$status\",\"code\":$code,\"message\":$message}"
  done
  for name in "${!tally[@]}"; do counts+="${counts:+,}\"$name\":${tally[$name]}"; done
  # Each value printed in place, none through a $(...) of its own: the host's end waits on this
  # summary, and every subshell is a fork of this ~150 KiB script (BENCHMARKS.md, figure 2).
  stamp_ms ended
  printf '{"v":2,"action":'
  json_str "${P[action]}"
  printf ',"sessionId":'
  json_str "$SESSION"
  printf ',"instanceId":'
  json_str "$INSTANCE_ID"
  printf ',"status":'
  json_str "$STATUS"
  error_json
  printf ',"children":%s,"counts":{%s},"unreported":[%s]' "${#CHILD_PIDS[@]}" "$counts" "$unreported"
  if ((more > 0)); then printf ',"unreportedMore":%s' "$more"; fi
  printf ',"workRoot":'
  json_str "$WORK_ROOT"
  printf ',"timings":{"startedAt":'
  json_num "$STARTED_AT"
  printf ',"endedAt":%s}}' "$ended"
}
