# shellcheck shell=bash
# action=fleet: this host's share of a service-wide session, one child run per line of the plan.

# One process per child: this script again, as action=run, with the line's sessionId, containerId
# and uploadUrl (every other parameter is the fleet's, from the environment). Each child keeps its
# own state, traps, host lock and watchdog, exactly as a single session does.
run_fleet() {
  local i
  check_fleet_params
  prepare_fleet_workdir
  fetch_plan
  read_share
  for i in "${!SHARE_IDS[@]}"; do
    SSM_action=run SSM_sessionId=${SHARE_IDS[i]} SSM_containerId=${SHARE_CONTAINERS[i]} \
      SSM_uploadUrl=${SHARE_URLS[i]} SSM_planUrl='' DEBUG_TASK_FLEET_CHILD=1 \
      "$BASH" "$SELF" </dev/null >"$WORK/children/$i" 3>&- &
    FLEET_PIDS+=("$!")
  done
  log "started ${#FLEET_PIDS[@]} child session(s)"
  # A signal interrupts wait at once; its trap stops the children (stop_children).
  for i in "${!FLEET_PIDS[@]}"; do wait "${FLEET_PIDS[i]}" || true; done
  STATUS=OK
}

# What a share needs: the session's parameters but containerId, a fleet's own id, the instance id
# the SSM agent sets, and this script readable again (each child runs it).
check_fleet_params() {
  local name pattern_var=PATTERN_instanceId instance=${AWS_SSM_INSTANCE_ID-}
  for name in planUrl tool durationSeconds maxBytes image expiresAt; do require_param "$name"; done
  if ! [[ $SESSION =~ ^dt-[a-z0-9]+-[a-z0-9]+$ ]]; then
    fail INVALID_ARGUMENT "sessionId $SESSION is a fleet child's id: action=fleet takes the fleet's own id (dt-<time>-<random>)."
  fi
  if ! [[ $instance =~ ${!pattern_var} ]]; then
    fail INVALID_ARGUMENT "AWS_SSM_INSTANCE_ID \"${instance:0:40}\" is not an instance id: action=fleet needs the one the SSM agent sets."
  fi
  INSTANCE_ID=$instance
  SELF=$0
  if [[ $SELF != /* ]]; then SELF=$PWD/$SELF; fi
  if [[ ! -r $SELF ]]; then fail CAPTURE_FAILED "The runner cannot start its children: $SELF is not readable."; fi
}

prepare_fleet_workdir() {
  mkdir -p -- "$WORK_ROOT"
  if runner_alive "$WORK"; then fail CAPTURE_FAILED "Fleet $SESSION already runs on this host."; fi
  rm -rf -- "$WORK"
  mkdir -m 0700 -- "$WORK" "$WORK/children"
  WORKDIR_CREATED=1
  : >"$WORK/fleet"
  printf '%s\n' "${P[expiresAt]}" >"$WORK/expires-at"
  local start
  process_start_to start "$$"
  printf '%s %s\n' "$$" "$start" >"$WORK/runner.pid"
}

# The plan, by its presigned GET: a few tries (connection refused, timeouts, 429 and 5xx); an
# answer of 4xx (an expired or foreign URL) is the argument's fault.
fetch_plan() {
  local code status=0 why
  interruptible curl --fail -sS -o "$WORK/plan" -w '%{http_code}' --connect-timeout 5 --max-time 30 --retry 3 \
    --retry-connrefused --retry-max-time 60 --max-filesize 16000000 "${P[planUrl]}" >"$WORK/plan.code" 2>"$WORK/plan.err" || status=$?
  if ((status == 0)); then return 0; fi
  code=$(tr -dc 0-9 <"$WORK/plan.code") why=$(last_lines "$WORK/plan.err" 1)
  why="The fleet plan could not be read from $(redact_url "${P[planUrl]}"): ${why:-curl status $status}"
  if [[ $code == 4* ]]; then fail INVALID_ARGUMENT "$why (an expired or wrong URL?)"; fi
  fail CAPTURE_FAILED "$why"
}

# Keeps the plan's lines of this instance, each checked field by field before anything starts: one
# bad line refuses the share. Other instances' lines are not looked at beyond their first field.
read_share() {
  local header line n=1 child cid url t=$'\t' seen=' '
  local re="^[^$t]*$t([^$t]*)$t([^$t]*)$t([^$t]*)\$"
  {
    IFS= read -r header || true
    if [[ $header != "$FLEET_PLAN_HEADER" ]]; then fail INVALID_ARGUMENT "The fleet plan does not start with \"$FLEET_PLAN_HEADER\"."; fi
    while IFS= read -r line || [[ -n $line ]]; do
      n=$((n + 1))
      if [[ $line != "$INSTANCE_ID$t"* ]]; then continue; fi
      if ! [[ $line =~ $re ]]; then fail INVALID_ARGUMENT "Line $n of the fleet plan does not hold 4 TAB-separated fields."; fi
      child=${BASH_REMATCH[1]} cid=${BASH_REMATCH[2]} url=${BASH_REMATCH[3]}
      if ! valid_value sessionId "$child" || [[ $child != "$SESSION"-[0-9][0-9][0-9][0-9] || $seen == *" $child "* ]]; then
        fail INVALID_ARGUMENT "Line $n of the fleet plan: \"${child:0:60}\" is not a new child id $SESSION-NNNN."
      fi
      if [[ -z $cid ]] || ! valid_value containerId "$cid"; then
        fail INVALID_ARGUMENT "Line $n of the fleet plan: \"${cid:0:70}\" is not a container id."
      fi
      if ! valid_value uploadUrl "$url"; then fail INVALID_ARGUMENT "Line $n of the fleet plan: its upload URL (not shown) is invalid."; fi
      seen+="$child "
      SHARE_IDS+=("$child") SHARE_CONTAINERS+=("$cid") SHARE_URLS+=("$url")
    done
  } <"$WORK/plan"
  rm -f -- "$WORK/plan" # it holds the other hosts' upload URLs
  if ((${#SHARE_IDS[@]} > FLEET_MAX_SHARE)); then
    fail INVALID_ARGUMENT "The fleet plan gives this host ${#SHARE_IDS[@]} targets; a host runs at most $FLEET_MAX_SHARE."
  fi
  log "the plan gives $INSTANCE_ID ${#SHARE_IDS[@]} target(s)"
}

# Stops the children still running (each removes what it started, as on any signal) and waits for
# them (wait_gone; their watchdogs remove what a SIGKILL left by expiresAt).
stop_children() {
  local pid alive=()
  for pid in "${FLEET_PIDS[@]}"; do
    if kill -TERM "$pid" 2>/dev/null; then alive+=("$pid"); fi
  done
  wait_gone "${alive[@]}"
  wait 2>/dev/null || true
}

# The children's manifests, in plan order: each one's last stdout line as it printed it, or one
# made here when it printed none (killed). One that would overflow the output budget loses its
# artifact facts and its message, while room is kept for every later child at that reduced size
# (FLEET_COMPACT_MAX).
fleet_children_json() {
  local i id json line used=0 left=${#FLEET_PIDS[@]} now
  local art='^(.*),"artifact":\{[^}]*\}(.*)$' msg='^(.*"message":")([^"\\]|\\.)*(".*)$'
  stamp_ms now
  for i in "${!FLEET_PIDS[@]}"; do
    id=${SHARE_IDS[i]} json='' left=$((left - 1))
    while IFS= read -r line || [[ -n $line ]]; do json=${line:-$json}; done <"$WORK/children/$i" || true
    if [[ $json != "{\"v\":1,\"sessionId\":\"$id\","*'}' ]]; then
      json="{\"v\":1,\"sessionId\":\"$id\",\"status\":\"FAILED\",\"error\":{\"code\":\"CAPTURE_FAILED\",\"message\":\"The child printed no manifest (killed?).\"},\"tool\":{\"name\":\"${P[tool]}\",\"exitCode\":null},\"timings\":{\"startedAt\":$STARTED_AT,\"endedAt\":$now}}"
    fi
    if ((used + ${#json} + left * FLEET_COMPACT_MAX > FLEET_OUTPUT_BUDGET)); then
      if [[ $json =~ $art ]]; then json=${BASH_REMATCH[1]}${BASH_REMATCH[2]}; fi
      if [[ $json =~ $msg ]]; then json="${BASH_REMATCH[1]}cut: SSM output limit${BASH_REMATCH[3]}"; fi
    fi
    used=$((used + ${#json} + 1))
    FLEET_JSON+=${FLEET_JSON:+,}$json
  done
}

fleet_teardown() {
  stop_children
  fleet_children_json
  if ((WORKDIR_CREATED)); then rm -rf -- "$WORK"; fi
}
