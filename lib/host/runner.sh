#!/bin/bash
# debug-task host runner: one debug session next to one container, run as root by SSM Run Command.
#
# action=run
#   Checks the target container (and, when that fails, the Docker engine; one in the host's
#   network mode is refused unless allowHostNetwork=true), free disk, the host's session count
#   (under a host lock, right before the start); pulls the toolbox image if it is missing (learnt
#   from a failed start); compiles the BPF filter; starts a time-boxed,
#   resource-limited toolbox container in the target's network and pid namespaces; caps the
#   artifact's size; compresses, hashes and uploads it from the host (never from inside the task's
#   network namespace); removes everything it started, on every exit path.
#   startAt (unix s, optional): every check and preparation (target, image, filter, a slot of the
#   host's maxSessions, claimed under the host lock) comes first; the toolbox then starts at
#   startAt, or at once (logging how late) when it has passed. The duration counts from the start.
# action=fleet (sessionId = the fleet's id, planUrl, the session's parameters but containerId)
#   This host's share of a service-wide session (lib/domain/fleet.ts): fetches the plan, keeps the
#   lines of $AWS_SSM_INSTANCE_ID (set by the SSM agent), checks every field, then runs each line as
#   one child `run` (this script again, sessionId/containerId/uploadUrl from the line), all at once;
#   waits for all and prints a FleetHostManifest whose children are the children's manifests (no
#   audit, messages cut to 300 characters). SSM keeps 24,000 characters of stdout: a child that
#   would not fit is reduced to {v,sessionId,status,error,tool,timings} (artifact facts dropped),
#   and a share of more than FLEET_MAX_SHARE lines is refused, so the manifest always fits. A
#   signal stops every child (each removes what it started) before the manifest.
# action=cleanup
#   Removes whatever is left of a session: its containers, its watchdog, its work dir (an artifact
#   kept after a failed upload stays until its keep-until: expiresAt or the failure, + 24 h). A
#   fleet's id also stops the fleet's runner and its children's and removes every child <id>-NNNN
#   the same way.
# action=reupload
#   Uploads the artifact a failed upload left on the host (see keep_artifact) to a fresh uploadUrl,
#   with the same retries; on success removes the session's work dir. Starts no container. No kept
#   artifact: ARTIFACT_NOT_ON_HOST.
# action=sweep (no session; sent on a schedule)
#   Removes every container of the host labelled debug-task.session whose debug-task.expires-at
#   has passed, stops the watchdogs of expired sessions, and removes the work dirs of expired
#   sessions whose runner is gone (a kept artifact once past its keep-until). Leaves the rest.
#
# Usage:  SSM_sessionId=dt-... SSM_containerId=<docker id> SSM_tool=tcpdump ... bash runner.sh
#         Every parameter arrives as the environment variable SSM_<name> (the SSM document uses
#         interpolationType ENV_VAR); lib/domain/params.ts defines them. Run the script built by
#         lib/host/runner-script.ts: it inserts PATTERN_<name>/DEFAULT_<name> below the header.
#         SSM requires only executionTimeout (action defaults to run); the runner requires what
#         its action needs (run: the session's parameters; cleanup: sessionId; reupload: sessionId
#         and uploadUrl; sweep: nothing).
# Output: progress on stderr; the LAST line of stdout is one JSON manifest (RunnerManifest, or
#         SweepManifest for a sweep, in lib/domain/session.ts; timings are Unix epoch milliseconds).
#         Exit status: 0 OK, 2 bad input, 3 target cannot be debugged (container missing, or in
#         the host's network mode without allowHostNetwork=true), 4 failed on the host,
#         130 cancelled by a signal.
# Needs:  bash 4.3+, docker CLI 20.10+ (docker run --pull), coreutils (timeout, sha256sum, df, date, stat, base64), gzip,
#         grep, curl (7.75+ for --aws-sigv4, used only to pull from ECR), setsid; flock if present.
#         Not jq, not the AWS CLI.
# Env:    DEBUG_TASK_HOME          work root (default /var/lib/debug-task)
#         AWS_SSM_INSTANCE_ID      this host's instance id (set by the SSM agent): a fleet's share
#         DEBUG_TASK_FLEET_CHILD   set by action=fleet for its children: compact manifests
#         DEBUG_TASK_UPLOAD_TRIES  upload attempts (default 5), for tests and the sandbox
#         DEBUG_TASK_KEEP_SECONDS  how long an artifact whose upload failed is kept past the later of
#                                  expiresAt and the failure (default 86400), for tests
#         DEBUG_TASK_IMDS_ENDPOINT instance metadata service (default http://169.254.169.254),
#         DEBUG_TASK_ECR_ENDPOINT  ECR API (default https://api.ecr.<region>.amazonaws.com, region
#                                  from the image's host): both for tests only; SSM never sets them

# SSM may start the script with sh; everything below is bash.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi

# @generated-parameters@ (lib/host/runner-script.ts inserts the parameter block after this line)

set -Eeuo pipefail
export LC_ALL=C
umask 077

readonly WORK_ROOT=${DEBUG_TASK_HOME:-/var/lib/debug-task}
readonly UPLOAD_TRIES=${DEBUG_TASK_UPLOAD_TRIES:-5}
# A kept artifact waits this long for `debug-task fetch` (action=reupload) before cleanup and the
# sweeper may remove it: expiresAt is only seconds after the upload gave up.
readonly KEEP_SECONDS=${DEBUG_TASK_KEEP_SECONDS:-86400}
# What keep_artifact records next to a kept artifact, so that a re-upload reports the same facts.
readonly FACTS_FILE=artifact.facts
readonly LABEL_SESSION=debug-task.session
readonly LABEL_EXPIRES=debug-task.expires-at
readonly STOP_GRACE_SECONDS=5      # the toolbox must be gone by duration + this
readonly PULL_TIMEOUT_SECONDS=120
readonly DOCKER_CALL_TIMEOUT=60    # any short docker call; a hung engine must not hang the runner
readonly HELPER_TIMEOUT_SECONDS=120
readonly MIN_FREE_BYTES=100000000
# An image on this kind of host is pulled with the instance role (pull_from_ecr). Groups: account,
# -fips, region, .cn (China partition).
readonly ECR_REGISTRY_RE='^([0-9]{12})\.dkr\.ecr(-fips)?\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$'
readonly IMDS_ENDPOINT=${DEBUG_TASK_IMDS_ENDPOINT:-http://169.254.169.254}
readonly ECR_ENDPOINT_OVERRIDE=${DEBUG_TASK_ECR_ENDPOINT:-}
# A sweep lists at most this many session ids in its manifest (SSM keeps 24,000 characters).
readonly SWEEP_LIST_MAX=50
# A work dir that records no expiry (its runner died before writing one) expires this long after
# its last change: far beyond any session's longest life.
readonly UNKNOWN_EXPIRY_SECONDS=86400
# A fleet's share: most lines per host; the output budget of its manifest (SSM keeps 24,000
# characters), and the most a child reduced to fit may take (a failed one with its code, ~270);
# how long a stopped child or fleet runner may take to remove what it started.
readonly FLEET_MAX_SHARE=64 FLEET_OUTPUT_BUDGET=23000 FLEET_COMPACT_MAX=330 FLEET_STOP_SECONDS=30
readonly FLEET_CHILD=${DEBUG_TASK_FLEET_CHILD:+1}

# Parameter values after defaults (P[name]); the session's paths and names, once known.
declare -A P=()
SESSION='' WORK='' OUT='' CONTAINER=''
# The interface the capture tools are given when iface is empty: set for a host-network target only.
CAPTURE_IFACE=''

# What the manifest reports.
STATUS=FAILED ERROR_CODE='' ERROR_MESSAGE=''
TOOL_EXIT='' PACKETS='' DROPPED='' LINK_TYPE=''
ARTIFACT_BYTES='' ARTIFACT_SHA='' OBJECT_BYTES='' OBJECT_SHA=''
TRUNCATED=false UPLOADED=false HOST_PATH=''
STARTED_AT='' CAPTURE_STARTED_AT='' CAPTURE_ENDED_AT=''
CLEANUP_REPORT='' SWEEP_REPORT=''
# A fleet: this host's instance id, its share (child ids, container ids, upload URLs), the pids of
# the children started.
INSTANCE_ID='' SELF='' FLEET_JSON='' FLEET_COUNTS=''
declare -a SHARE_IDS=() SHARE_CONTAINERS=() SHARE_URLS=() SHARE_MANIFESTS=() FLEET_PIDS=()
CHILD_ACTION=run

# What teardown must undo.
CHILD_PID='' CREATED_CONTAINERS=0 TOOLBOX_STARTED=0 WATCHDOG_STARTED=0 WORKDIR_CREATED=0 KEEP_WORKDIR=0 KEEP_UNTIL=''
REUPLOAD_CLAIMED=0 FORCED_KILL=0
# The ECR pull's transient credentials (curl configs, Docker config) and what it learnt.
AUTH_DIR='' DOCKER_CONFIG_DIR='' ECR_ROLE='' HTTP_CODE='' PULL_ERROR=''
FAILED_LINE='' FAILED_COMMAND=''

main() {
  exec 3>&1 1>&2 # stdout carries only the manifest; every other line goes to stderr
  stamp_ms STARTED_AT
  trap on_exit EXIT
  trap 'on_signal INT' INT
  trap 'on_signal TERM' TERM
  trap 'on_signal HUP' HUP
  trap 'FAILED_LINE=$LINENO FAILED_COMMAND=$BASH_COMMAND' ERR

  load_params
  case ${P[action]} in
    run) run_session ;;
    plan) run_fleet run ;;
    cleanup) cleanup_session ;;
    reupload) if [[ -n ${P[planUrl]} ]]; then run_fleet reupload; else reupload_artifact; fi ;;
    sweep) sweep_host ;;
  esac
}

# Every docker call costs 15-40 ms (a Go binary starting, an Engine API round trip), and the start
# of a session is what its user waits for (BENCHMARKS.md, figure 1). So the healthy path makes two
# before the toolbox: the target's inspect (which also proves the engine answers) and the session
# count under the host lock; the image's presence is learnt from the start itself (--pull never).
# The other checks run only when something failed or something costly is about to happen.
run_session() {
  check_run_params
  set_container_args
  check_target
  prepare_workdir
  check_disk
  start_watchdog
  if [[ -n ${P[startAt]} ]]; then
    start_toolbox_at
  else
    if takes_filter "${P[tool]}" && [[ -n ${P[filter]}${P[iface]} ]]; then
      # The filter check is a container of its own, from the image: refuse a busy host before it.
      check_capacity
      ensure_image
      check_filter
    fi
    start_toolbox
  fi
  wait_for_toolbox
  collect_tool_result
  finish_artifact
  package_artifact
  deliver_artifact
}

# A fleet's id (no -NNNN) also covers its children: the fleet's runner is stopped first (it stops
# its children, each removing what it started), then any child runner left; then whatever is left
# of the fleet and of every child <id>-NNNN goes as a single session's does. A child's id: that
# child only.
cleanup_session() {
  local removed id dir
  local -a ids=("$SESSION")
  if [[ $SESSION =~ ^dt-[a-z0-9]+-[a-z0-9]+$ ]]; then
    if [[ -f $WORK/fleet ]]; then stop_runners "$WORK"; fi
    stop_runners "$WORK_ROOT/$SESSION"-[0-9][0-9][0-9][0-9]
    removed=$(remove_session_containers fleet)
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

# action=reupload: the artifact a failed upload left (keep_artifact), to a fresh uploadUrl, with the
# same upload and retries as a run. Starts no container. On success nothing of the session is left
# on the host; on failure the artifact stays kept as it was.
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
  if upload "$gz"; then
    UPLOADED=true STATUS=OK HOST_PATH=''
    rm -rf -- "$WORK"
    log "uploaded to $(redact_url "${P[uploadUrl]}"); removed $WORK"
    return 0
  fi
  fail UPLOAD_FAILED "The re-upload to $(redact_url "${P[uploadUrl]}") failed $UPLOAD_TRIES times ($(last_lines "$WORK/curl.err" 1)); the artifact is still kept at $gz until $(utc_date "${until:-0}")."
}

# The facts of a kept artifact, as keep_artifact recorded them (read as data, never sourced); the
# object's are computed again and must match, so an artifact altered on the host is never passed
# off as the capture. An artifact kept without facts (an older runner) gets them computed.
read_artifact_facts() {
  local gz=$1 key value tool='' recorded=''
  OBJECT_BYTES=$(wc -c <"$gz")
  OBJECT_SHA=$(sha256 "$gz")
  if [[ -f $WORK/$FACTS_FILE ]]; then
    while IFS='=' read -r key value; do
      case $key in
        tool) if [[ $value =~ ^(tcpdump|ngrep|strace|snapshot)$ ]]; then tool=$value; fi ;;
        bytes) if [[ $value =~ ^[0-9]{1,15}$ ]]; then ARTIFACT_BYTES=$value; fi ;;
        sha256) if [[ $value =~ ^[a-f0-9]{64}$ ]]; then ARTIFACT_SHA=$value; fi ;;
        objectSha256) if [[ $value =~ ^[a-f0-9]{64}$ ]]; then recorded=$value; fi ;;
        linkType) if [[ $value =~ ^[A-Za-z0-9_]{1,40}$ ]]; then LINK_TYPE=$value; fi ;;
        truncated) if [[ $value == true ]]; then TRUNCATED=true; fi ;;
      esac
    done <"$WORK/$FACTS_FILE"
  fi
  if [[ -n $recorded && $recorded != "$OBJECT_SHA" ]]; then
    OBJECT_SHA='' # not this session's artifact any more: report no facts
    fail CAPTURE_FAILED "The artifact kept at $gz is not the one the capture wrote (sha256 now differs from the recorded $recorded): it was altered on the host and is not uploaded."
  fi
  if [[ -z $ARTIFACT_SHA || -z $ARTIFACT_BYTES ]]; then
    ARTIFACT_SHA=$(gzip -dc -- "$gz" | sha256sum | cut -d ' ' -f 1)
    ARTIFACT_BYTES=$(gzip -dc -- "$gz" | wc -c)
  fi
  # The tool the session ran names the format; the API sends it too (tool), for an artifact kept without facts.
  if [[ -n $tool ]]; then P[tool]=$tool; fi
  if [[ -z ${P[tool]} && $gz == *.pcap.gz ]]; then P[tool]=tcpdump; fi
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

# Waits until none of the pids runs, FLEET_STOP_SECONDS + 5 at most; then sends SIGKILL.
wait_gone() {
  local pids=("$@") i _
  for _ in $(seq $(((FLEET_STOP_SECONDS + 5) * 10))); do
    for i in "${!pids[@]}"; do
      if ! kill -0 "${pids[i]}" 2>/dev/null; then unset 'pids[i]'; fi
    done
    if ((${#pids[@]} == 0)); then return 0; fi
    sleep 0.1
  done
  log "${#pids[@]} runner(s) still running after $((FLEET_STOP_SECONDS + 5))s: killing them"
  kill -KILL "${pids[@]}" 2>/dev/null || true
}

# --- a fleet's share ------------------------------------------------------------------------------

# One process per child: this script again, as action=run, with the line's sessionId, containerId
# and uploadUrl (every other parameter is the fleet's, from the environment). Each child keeps its
# own state, traps, host lock and watchdog, exactly as a single session does.
run_fleet() {
  local name i
  CHILD_ACTION=$1
  if [[ $CHILD_ACTION == run ]]; then
    for name in planUrl tool durationSeconds maxBytes image expiresAt; do require_param "$name"; done
  fi
  if ! [[ $SESSION =~ ^dt-[a-z0-9]+-[a-z0-9]+$ ]]; then fail INVALID_ARGUMENT "sessionId $SESSION is a child's id, not a fleet's."; fi
  name=PATTERN_instanceId i=${AWS_SSM_INSTANCE_ID-}
  if ! [[ $i =~ ${!name} ]]; then
    fail INVALID_ARGUMENT "AWS_SSM_INSTANCE_ID \"${i:0:40}\" is not an instance id: action=fleet needs the one the SSM agent sets."
  fi
  INSTANCE_ID=$i
  SELF=$0
  if [[ $SELF != /* ]]; then SELF=$PWD/$SELF; fi
  if [[ ! -r $SELF ]]; then fail CAPTURE_FAILED "The runner cannot start its children: $SELF is not readable."; fi
  prepare_fleet_workdir
  fetch_plan
  read_share
  for i in "${!SHARE_IDS[@]}"; do
    SSM_action=$CHILD_ACTION SSM_sessionId=${SHARE_IDS[i]} SSM_containerId=${SHARE_CONTAINERS[i]#-} \
      SSM_uploadUrl=${SHARE_URLS[i]} SSM_manifestUrl=${SHARE_MANIFESTS[i]} SSM_planUrl='' DEBUG_TASK_FLEET_CHILD=1 \
      "$BASH" "$SELF" </dev/null >"$WORK/children/$i" 3>&- &
    FLEET_PIDS+=("$!")
  done
  log "started ${#FLEET_PIDS[@]} child session(s)"
  # A signal interrupts wait at once; its trap stops the children (stop_children).
  for i in "${!FLEET_PIDS[@]}"; do wait "${FLEET_PIDS[i]}" || true; done
  STATUS=OK
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
  local header line n=1 child cid url murl t=$'\t' seen=' '
  local re="^[^$t]*$t([^$t]*)$t([^$t]*)$t([^$t]*)$t([^$t]*)\$"
  {
    IFS= read -r header || true
    if [[ $header != "$FLEET_PLAN_HEADER" ]]; then fail INVALID_ARGUMENT "The fleet plan does not start with \"$FLEET_PLAN_HEADER\"."; fi
    while IFS= read -r line || [[ -n $line ]]; do
      n=$((n + 1))
      if [[ $line != "$INSTANCE_ID$t"* ]]; then continue; fi
      if ! [[ $line =~ $re ]]; then fail INVALID_ARGUMENT "Line $n of the fleet plan does not hold 4 TAB-separated fields."; fi
      child=${BASH_REMATCH[1]} cid=${BASH_REMATCH[2]} url=${BASH_REMATCH[3]} murl=${BASH_REMATCH[4]}
      if ! valid_value sessionId "$child" || [[ $child != "$SESSION"-[0-9][0-9][0-9][0-9] || $seen == *" $child "* ]]; then
        fail INVALID_ARGUMENT "Line $n of the fleet plan: \"${child:0:60}\" is not a new child id $SESSION-NNNN."
      fi
      if [[ $cid != - || $CHILD_ACTION != reupload ]] && { [[ -z $cid ]] || ! valid_value containerId "$cid"; }; then
        fail INVALID_ARGUMENT "Line $n of the fleet plan: \"${cid:0:70}\" is not a container id."
      fi
      if ! valid_value uploadUrl "$url"; then fail INVALID_ARGUMENT "Line $n of the fleet plan: its upload URL (not shown) is invalid."; fi
      seen+="$child "
      if ! valid_value manifestUrl "$murl"; then fail INVALID_ARGUMENT "Line $n of the fleet plan: its manifest URL (not shown) is invalid."; fi
      SHARE_IDS+=("$child") SHARE_CONTAINERS+=("$cid") SHARE_URLS+=("$url") SHARE_MANIFESTS+=("$murl")
    done
  } <"$WORK/plan"
  rm -f -- "$WORK/plan" # it holds the other hosts' upload URLs
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
  local i id json line status code msg
  declare -A counts=()
  for i in "${!FLEET_PIDS[@]}"; do
    id=${SHARE_IDS[i]} json=''
    while IFS= read -r line || [[ -n $line ]]; do json=${line:-$json}; done <"$WORK/children/$i" || true
    status=FAILED code=CAPTURE_FAILED
    if [[ $json =~ \"status\":\"([A-Z_]+)\" ]]; then status=${BASH_REMATCH[1]}; code=''; fi
    msg=''
    if [[ $json =~ \"error\":\{\"code\":\"([A-Z_]+)\",\"message\":\"(([^\"\\]|\\.){0,300}) ]]; then code=${BASH_REMATCH[1]} msg=${BASH_REMATCH[2]}; fi
    counts[$status]=$((${counts[$status]:-0} + 1))
    if [[ -z $json || $json == *'"manifestUploaded":false'* ]]; then
      FLEET_JSON+=${FLEET_JSON:+,}$(printf '{"sessionId":%s,"status":%s,"code":%s,"message":"%s"}' "$(json_str "$id")" "$(json_str "$status")" "$([[ -n $code ]] && json_str "$code" || echo null)" "${msg%\\}")
    fi
  done
  FLEET_COUNTS=''
  for status in "${!counts[@]}"; do FLEET_COUNTS+=${FLEET_COUNTS:+,}$(printf '%s:%s' "$(json_str "$status")" "${counts[$status]}"); done
}

# --- parameters ---------------------------------------------------------------------------------

load_params() {
  # shellcheck disable=SC2154 # PARAM_NAMES is generated by lib/host/runner-script.ts
  if [[ -z ${PARAM_NAMES+set} ]]; then
    fail INVALID_ARGUMENT 'The parameter patterns are missing: run the script built by lib/host/runner-script.ts, not runner.sh itself.'
  fi
  local name value_var default_var
  for name in "${PARAM_NAMES[@]}"; do
    value_var=SSM_$name default_var=DEFAULT_$name
    P[$name]=${!value_var-}
    if [[ -z ${P[$name]} && -v $default_var ]]; then P[$name]=${!default_var}; fi
  done
  # The action decides what else is required.
  check_param action
  # The session id comes next: every later message and the manifest carry it. A sweep has none.
  if [[ ${P[action]} != sweep ]]; then
    require_param sessionId
    SESSION=${P[sessionId]}
    WORK=$WORK_ROOT/$SESSION OUT=$WORK_ROOT/$SESSION/out CONTAINER=debug-task-$SESSION
  fi
  check_work_root
  for name in "${PARAM_NAMES[@]}"; do
    if [[ -n ${P[$name]} ]]; then check_param "$name"; fi
  done
}

# Every value is re-checked here against the same pattern SSM checked, in case the runner is ever
# started some other way. Values never reach a shell as code: they are passed as quoted words.
check_param() {
  local name=$1 pattern_var=PATTERN_$1 max_var=MAXCHARS_$1
  local value=${P[$1]}
  if ((${#value} > ${!max_var})) || ! [[ $value =~ ${!pattern_var} ]]; then
    local shown=$value
    if [[ $name == uploadUrl || $name == planUrl ]]; then shown='(a URL, not shown: it carries a signature)'; fi
    fail INVALID_ARGUMENT "Parameter $name is invalid: received \"${shown:0:120}\", expected ${!pattern_var} (at most ${!max_var} characters)."
  fi
}

# True when $2 fits the parameter $1 (its pattern and length).
valid_value() {
  local pattern_var=PATTERN_$1 max_var=MAXCHARS_$1
  ((${#2} <= ${!max_var})) && [[ $2 =~ ${!pattern_var} ]]
}

require_param() {
  if [[ -z ${P[$1]} ]]; then fail INVALID_ARGUMENT "Parameter $1 is required (environment variable SSM_$1 is empty)."; fi
  check_param "$1"
}

check_work_root() {
  # rm -rf runs under this path: accept only a plain absolute path.
  if ! [[ $WORK_ROOT =~ ^/[A-Za-z0-9._/-]+$ && $WORK_ROOT != *..* ]]; then
    fail INVALID_ARGUMENT "DEBUG_TASK_HOME must be an absolute path of letters, digits, . _ / - (received \"$WORK_ROOT\")."
  fi
  if ! [[ $KEEP_SECONDS =~ ^[0-9]{1,7}$ ]]; then
    fail INVALID_ARGUMENT "DEBUG_TASK_KEEP_SECONDS must be a number of seconds (received \"${KEEP_SECONDS:0:40}\")."
  fi
}

check_run_params() {
  local name
  for name in containerId tool durationSeconds maxBytes image expiresAt; do require_param "$name"; done
  # The capture starts at the later of now and startAt.
  local now start
  now_s now
  start=$now
  if [[ -n ${P[startAt]} ]] && ((10#${P[startAt]} > now)); then start=$((10#${P[startAt]})); fi
  if ((10#${P[expiresAt]} < start + P[durationSeconds])); then
    fail INVALID_ARGUMENT "expiresAt ${P[expiresAt]} is before the capture could end (start $start + ${P[durationSeconds]} s, now $now): the watchdog would stop it early."
  fi
  if [[ -n ${P[filter]} ]] && ! takes_filter "${P[tool]}"; then
    log "the filter is ignored: ${P[tool]} does not take one"
    P[filter]=''
  fi
}

# --- checks before anything is started -----------------------------------------------------------

check_engine() {
  if ! command -v docker >/dev/null; then fail CAPTURE_FAILED 'The docker CLI is not installed on this host.'; fi
  if ! dk info >/dev/null 2>&1; then
    fail CAPTURE_FAILED "The Docker engine does not answer (docker info failed or took over ${DOCKER_CALL_TIMEOUT}s)."
  fi
}

# The target's inspect doubles as the engine check: only when it fails is the engine asked (docker
# info) whether it answers at all, so a stopped engine still fails as check_engine says, not as a
# missing container.
check_target() {
  local cid=${P[containerId]} state format field status=0 run_state pid name mode
  if ! command -v docker >/dev/null; then fail CAPTURE_FAILED 'The docker CLI is not installed on this host.'; fi
  # One inspect, four words: status, pid, /name, network mode (last: the only one that is not a
  # single token by construction; awsvpc gives container:<pause id>, bridge bridge or a network).
  tmpl_to format .State.Status
  for field in .State.Pid .Name .HostConfig.NetworkMode; do
    tmpl_to state "$field"
    format+=" $state"
  done
  state=$(dk inspect --type container --format "$format" "$cid" 2>/dev/null) || status=$?
  if ((status == 124)); then
    # A hung engine: the inspect already waited DOCKER_CALL_TIMEOUT; docker info would wait again.
    fail CAPTURE_FAILED "The Docker engine does not answer (docker inspect took over ${DOCKER_CALL_TIMEOUT}s)."
  fi
  if ((status != 0)); then
    check_engine
    fail CONTAINER_NOT_FOUND "There is no container $cid on this host."
  fi
  run_state=${state%% *} state=${state#* }
  pid=${state%% *} state=${state#* }
  name=${state%% *} mode=${state#* }
  if [[ $run_state != running ]]; then
    fail CONTAINER_NOT_FOUND "Container $cid is $run_state, not running."
  fi
  if [[ $mode == host ]]; then check_host_network "$cid" "${name#/}" "$pid"; fi
  log "target container $cid is running"
}

# A container in the host's network mode shares the host's network namespace, and so does a
# toolbox next to it: a capture there sees every interface and all the traffic of the host, not one
# task's. Refused (before anything is started) unless the session asked for it (allowHostNetwork).
check_host_network() {
  local cid=$1 name=$2 pid=$3 shown=$1 where=''
  if [[ -n $name ]]; then shown="$name ($cid)"; fi
  if [[ ${P[allowHostNetwork]} != true ]]; then
    fail HOST_NETWORK_NOT_ALLOWED "Container $shown uses the host's network (NetworkMode host): a capture next to it would see the traffic of the whole host, not only its own. Nothing was started; re-run with --allow-host-network if capturing the host's traffic is intended."
  fi
  if [[ -z ${P[iface]} ]] && takes_filter "${P[tool]}"; then
    # Left to itself, libpcap would pick the non-loopback interface with the lowest number at the
    # end of its name: on a host, a container's veth (vethab12cd3e counts as 0) or docker0 as
    # readily as the host's own. Capture where the host's default route leaves instead.
    default_route_iface CAPTURE_IFACE "/proc/$pid/net/route"
  fi
  if [[ -n ${P[iface]} ]]; then
    where=" (capture on ${P[iface]})"
  elif [[ -n $CAPTURE_IFACE ]]; then
    where=" (capture on $CAPTURE_IFACE, the host's default route)"
  fi
  log "container $shown uses the host's network and allowHostNetwork is true: the toolbox joins the host's network namespace and sees the whole host's traffic$where"
}

# Sets the variable named $1 to the interface of the lowest-metric IPv4 default route in the route
# table $2 (/proc/<pid>/net/route: the table of that process's network namespace), or to '' when
# the table is unreadable (the engine's processes are not ours to see) or has no default route.
default_route_iface() {
  local table=$2 iface dest flags metric mask best='' best_metric='' _
  printf -v "$1" '%s' ''
  if ! [[ -r $table ]]; then return 0; fi
  # Columns: Iface Destination Gateway Flags RefCnt Use Metric Mask ...; hex, Flags 1 = RTF_UP.
  while read -r iface dest _ flags _ _ metric mask _; do
    if [[ $dest != 00000000 || $mask != 00000000 || ! $flags =~ ^[0-9A-Fa-f]{1,8}$ ]]; then continue; fi
    if ! [[ $metric =~ ^[0-9]{1,9}$ && $iface =~ ^[A-Za-z0-9_.@-]{1,15}$ ]] || ! ((16#$flags & 1)); then continue; fi
    if [[ -z $best ]] || ((10#$metric < 10#$best_metric)); then best=$iface best_metric=$metric; fi
  done <"$table" || true
  printf -v "$1" '%s' "$best"
}

# Counted once under the host lock right before the toolbox starts (the count that holds under
# concurrency), and without the lock before anything costly (a pull, a helper container): a busy
# host refuses early there.
check_capacity() {
  local others
  count_other_sessions others
  if ((others >= P[maxSessions])); then
    release_host_lock
    fail HOST_BUSY "This host already runs $others debug session(s), its maximum is ${P[maxSessions]}."
  fi
}

# Counts sessions, not containers: a session may briefly run a helper container too; and the
# slots claimed by sessions waiting for their startAt (start_toolbox_at) whose runner still runs.
# Sets the variable named $1. Counted in bash, not awk: one fork less on every start.
count_other_sessions() {
  local format listing line slot pid start now_start
  local -A seen=()
  for slot in "$WORK_ROOT"/dt-*/slot; do
    line=${slot%/slot} line=${line##*/} pid='' start='' now_start=''
    if [[ $line == "$SESSION" || ! -f $slot ]]; then continue; fi
    read -r pid start <"$slot" || true
    if [[ $pid =~ ^[0-9]+$ ]]; then process_start_to now_start "$pid"; fi
    if [[ -n $start && $now_start == "$start" ]]; then seen[$line]=1; fi
  done
  tmpl_to format ".Label \"$LABEL_SESSION\""
  if ! listing=$(dk ps --filter "label=$LABEL_SESSION" --format "$format" 2>/dev/null); then
    fail CAPTURE_FAILED "docker ps failed (or took over ${DOCKER_CALL_TIMEOUT}s): the host's sessions could not be counted."
  fi
  while IFS= read -r line; do
    if [[ -n $line && $line != "$SESSION" ]]; then seen[$line]=1; fi
  done <<<"$listing"
  printf -v "$1" '%s' "${#seen[@]}"
}

prepare_workdir() {
  mkdir -p -- "$WORK_ROOT" # umask 077: new directories are 0700
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
}

check_disk() {
  local avail_kb='' need_bytes _
  # df's second line, field 4 (read here rather than by awk: one fork less).
  { read -r _ && read -r _ _ _ avail_kb _; } < <(df -Pk -- "$WORK_ROOT")
  if ! [[ $avail_kb =~ ^[0-9]+$ ]]; then fail CAPTURE_FAILED "df could not tell the free space under $WORK_ROOT."; fi
  need_bytes=$((2 * P[maxBytes]))
  if ((need_bytes < MIN_FREE_BYTES)); then need_bytes=$MIN_FREE_BYTES; fi
  if ((avail_kb * 1024 < need_bytes)); then
    fail CAPTURE_FAILED "Only $((avail_kb / 1024)) MiB are free under $WORK_ROOT; this session needs $((need_bytes / 1048576)) MiB (twice maxBytes, at least 100 MB). Lower maxBytes or free disk space."
  fi
}

ensure_image() {
  if ! image_present; then fetch_image; fi
}

image_present() { dk image inspect "${P[image]}" >/dev/null 2>&1; }

# Pulls the missing toolbox image: from ECR with the instance role, or a plain docker pull.
fetch_image() {
  local image=${P[image]} registry
  registry=$(image_registry "$image")
  if [[ $registry =~ $ECR_REGISTRY_RE ]]; then
    pull_from_ecr "$image" "$registry" "${BASH_REMATCH[3]}" "${BASH_REMATCH[2]}" "${BASH_REMATCH[4]}"
    return 0
  fi
  log "pulling toolbox image $image (at most ${PULL_TIMEOUT_SECONDS}s)"
  if ! pull_image "$image"; then
    fail TOOLBOX_IMAGE_UNAVAILABLE "The toolbox image $image is not on this host and could not be pulled: $PULL_ERROR."
  fi
}

# docker pull with a time limit; extra arguments are VAR=value words for its environment. On
# failure PULL_ERROR says why, in docker's words.
pull_image() {
  local image=$1 status=0
  shift
  interruptible timeout "$PULL_TIMEOUT_SECONDS" env "$@" docker pull "$image" >"$WORK/pull.log" 2>&1 || status=$?
  if ((status == 0)); then return 0; fi
  PULL_ERROR=$(last_lines "$WORK/pull.log" 2)
  if ((status == 124)); then PULL_ERROR="the pull took longer than ${PULL_TIMEOUT_SECONDS}s"; fi
  PULL_ERROR=${PULL_ERROR:-docker pull failed with status $status}
  return 1
}

# The registry host of an image reference, read as docker reads it: the first path component when
# it looks like a host (a dot, a port, or localhost), Docker Hub otherwise.
image_registry() {
  local first=${1%%/*}
  if [[ $1 == */* && ($first == *.* || $first == *:* || $first == localhost) ]]; then
    printf '%s' "$first"
  else
    printf 'docker.io'
  fi
}

# --- pulling from ECR with the instance role --------------------------------------------------------

# The ECS agent authenticates its own pulls, but a plain `docker pull` here has no ECR credentials
# and the hosts have no AWS CLI (Flatcar). So, for this one pull: the instance role's credentials
# from IMDSv2, an authorization token from ECR's GetAuthorizationToken (signed by curl's SigV4),
# and a Docker config of our own. root's ~/.docker is never read or written (the host stays as it
# was); credentials go to curl through config files (-K), never through its argv (ps shows argv),
# and every file holding one is removed as soon as it has served.
pull_from_ecr() {
  local image=$1 registry=$2 region=$3 fips=$4 cn=$5 ecr=$ECR_ENDPOINT_OVERRIDE
  if [[ -z $ecr ]]; then
    if [[ -n $fips ]]; then ecr=https://ecr-fips.$region.amazonaws.com$cn; else ecr=https://api.ecr.$region.amazonaws.com$cn; fi
  fi
  check_endpoint DEBUG_TASK_IMDS_ENDPOINT "$IMDS_ENDPOINT"
  check_endpoint DEBUG_TASK_ECR_ENDPOINT "$ecr"
  log "pulling toolbox image $image from ECR ($region) with the instance role (at most ${PULL_TIMEOUT_SECONDS}s)"
  AUTH_DIR=$WORK/ecr-auth DOCKER_CONFIG_DIR=$WORK/docker-config
  mkdir -m 0700 -- "$AUTH_DIR" "$DOCKER_CONFIG_DIR"
  instance_role_credentials
  ecr_docker_config "$ecr" "$region" "$registry"
  local pulled=0
  pull_image "$image" "DOCKER_CONFIG=$DOCKER_CONFIG_DIR" || pulled=$?
  remove_registry_auth
  if ((pulled != 0)); then
    ecr_fail "ECR gave the instance role ($ECR_ROLE) a token, but docker pull failed" \
      'The role needs ecr:BatchGetImage and ecr:GetDownloadUrlForLayer on the repository (its repository policy must allow them too)' \
      "docker pull said: $PULL_ERROR"
  fi
}

# Only a plain http(s) URL, no path: the endpoints are test overrides, but a typo must not send the
# instance's credentials somewhere unexpected.
check_endpoint() {
  if ! [[ $2 =~ ^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$ ]]; then
    fail INVALID_ARGUMENT "$1 must be http(s)://host[:port] without a path (received \"${2:0:120}\")."
  fi
}

# TOOLBOX_IMAGE_UNAVAILABLE: what failed, what to do, then what the other side said (last: the
# manifest keeps 1000 characters of a message, and the advice must survive the cut).
ecr_fail() {
  remove_registry_auth
  fail TOOLBOX_IMAGE_UNAVAILABLE "The toolbox image ${P[image]} is not on this host and could not be pulled from ECR: $1. $2, or pre-pull the image on the host.${3:+ $3}"
}

remove_registry_auth() {
  local dir
  for dir in "$AUTH_DIR" "$DOCKER_CONFIG_DIR"; do
    if [[ -n $dir ]]; then rm -rf -- "$dir"; fi
  done
}

# One request of the ECR path. The body goes to $AUTH_DIR/<name>.body, the HTTP status to
# HTTP_CODE (000: no answer) and curl's own message to $AUTH_DIR/<name>.err. No --fail: ECR's
# error body says what was denied.
auth_request() {
  local name=$1
  shift
  interruptible curl -sS -o "$AUTH_DIR/$name.body" -w '%{http_code}' --connect-timeout 3 --max-time 20 \
    "$@" >"$AUTH_DIR/$name.code" 2>"$AUTH_DIR/$name.err" || true
  HTTP_CODE=$(tr -dc 0-9 <"$AUTH_DIR/$name.code")
  HTTP_CODE=${HTTP_CODE:-000}
}

# Prints a response body once and removes it: the bodies of the ECR path may hold credentials.
take_body() {
  local file=$AUTH_DIR/$1.body
  if [[ -f $file ]]; then
    cat -- "$file"
    rm -f -- "$file"
  fi
}

# IMDSv2: a session token (PUT), the role's name, then its temporary credentials, written as a curl
# config for the ECR request ($AUTH_DIR/ecr.curl). --noproxy: the metadata service is link-local;
# an HTTP proxy set for the SSM agent must not see these requests.
instance_role_credentials() {
  local imds=$IMDS_ENDPOINT body key secret token
  local -a imds_args=(--noproxy '*' -K "$AUTH_DIR/imds.curl")
  auth_request imds-token --noproxy '*' -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' "$imds/latest/api/token"
  if [[ $HTTP_CODE != 200 ]]; then
    ecr_fail "the instance metadata service (IMDSv2 at $imds) is unreachable ($(http_failure imds-token))" \
      'Make sure the instance metadata service is enabled for the instance (IMDSv2 tokens, reachable from the host)'
  fi
  body=$(take_body imds-token)
  if ! [[ $body =~ ^[A-Za-z0-9+/=_-]{1,512}$ ]]; then
    ecr_fail "the instance metadata service (IMDSv2 at $imds) answered no usable token" \
      'Check the instance metadata options (aws ec2 describe-instances ... MetadataOptions)'
  fi
  printf 'header = "X-aws-ec2-metadata-token: %s"\n' "$body" >"$AUTH_DIR/imds.curl"

  auth_request imds-role "${imds_args[@]}" "$imds/latest/meta-data/iam/security-credentials/"
  ECR_ROLE=$(take_body imds-role | head -n 1 | tr -d '\r' || true)
  if [[ $HTTP_CODE == 404 ]] || [[ $HTTP_CODE == 200 && -z $ECR_ROLE ]]; then
    ecr_fail 'the instance has no instance role (no IAM instance profile)' \
      'Attach an instance profile whose role (the ECS container instance role, e.g. ecsInstanceRole) has ecr:GetAuthorizationToken, ecr:BatchGetImage and ecr:GetDownloadUrlForLayer'
  fi
  if [[ $HTTP_CODE != 200 ]]; then
    ecr_fail "the instance metadata service (IMDSv2 at $imds) did not name the instance role ($(http_failure imds-role))" \
      'Make sure the instance metadata service is enabled for the instance'
  fi
  if ! [[ $ECR_ROLE =~ ^[A-Za-z0-9+=,.@_-]{1,128}$ ]]; then
    ecr_fail 'the instance metadata service named an instance role that is not a valid role name' \
      'Check the instance profile of the instance'
  fi

  auth_request imds-credentials "${imds_args[@]}" "$imds/latest/meta-data/iam/security-credentials/$ECR_ROLE"
  body=$(take_body imds-credentials)
  rm -f -- "$AUTH_DIR/imds.curl"
  key=$(json_field AccessKeyId "$body") secret=$(json_field SecretAccessKey "$body") token=$(json_field Token "$body")
  body=''
  # Checked character by character: these values go into a curl config file between quotes.
  if [[ $HTTP_CODE != 200 || ! $key =~ ^[A-Z0-9]{16,128}$ || ! $secret =~ ^[A-Za-z0-9+/=]{16,128}$ || ! $token =~ ^[A-Za-z0-9+/=]*$ ]]; then
    ecr_fail "the instance metadata service gave no usable credentials for the instance role $ECR_ROLE (HTTP $HTTP_CODE)" \
      'Check the instance profile of the instance (aws iam get-instance-profile)'
  fi
  {
    printf 'user = "%s:%s"\n' "$key" "$secret"
    if [[ -n $token ]]; then printf 'header = "x-amz-security-token: %s"\n' "$token"; fi
  } >"$AUTH_DIR/ecr.curl"
}

# ECR GetAuthorizationToken (JSON 1.1 protocol, SigV4 for service ecr in the image's region); its
# authorizationToken is base64("AWS:<password>"), exactly what a Docker config's "auth" holds.
ecr_docker_config() {
  local ecr=$1 region=$2 registry=$3 body auth prefix
  auth_request ecr -K "$AUTH_DIR/ecr.curl" --aws-sigv4 "aws:amz:$region:ecr" \
    -H 'X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken' \
    -H 'Content-Type: application/x-amz-json-1.1' --data '{}' "$ecr/"
  rm -f -- "$AUTH_DIR/ecr.curl"
  body=$(take_body ecr)
  if [[ $HTTP_CODE == 000 ]]; then
    ecr_fail "ECR ($ecr) is unreachable ($(http_failure ecr))" \
      "The host needs a route to ECR: a NAT gateway, or VPC endpoints for com.amazonaws.$region.ecr.api, ecr.dkr and s3"
  fi
  if [[ $HTTP_CODE != 200 ]]; then
    ecr_fail "ECR denied GetAuthorizationToken to the instance role $ECR_ROLE (HTTP $HTTP_CODE)" \
      'Grant the instance role (e.g. ecsInstanceRole) ecr:GetAuthorizationToken, ecr:BatchGetImage and ecr:GetDownloadUrlForLayer (AmazonEC2ContainerServiceforEC2Role has them)' \
      "ECR said: $(aws_error "$body")"
  fi
  auth=$(json_field authorizationToken "$body")
  body=''
  prefix=$(printf '%s' "$auth" | base64 -d 2>/dev/null | head -c 4 || true)
  if ! [[ $auth =~ ^[A-Za-z0-9+/]+=*$ && $prefix == AWS: ]]; then
    ecr_fail 'ECR answered GetAuthorizationToken without a usable authorizationToken' 'Retry'
  fi
  printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$registry" "$auth" >"$DOCKER_CONFIG_DIR/config.json"
  chmod 600 "$DOCKER_CONFIG_DIR/config.json"
}

# curl's message, or the HTTP status when there was an answer.
http_failure() {
  if [[ $HTTP_CODE == 000 ]]; then last_lines "$AUTH_DIR/$1.err" 1; else printf 'HTTP %s' "$HTTP_CODE"; fi
}

# "<__type>: <message>" of an AWS JSON error body, without the namespace of the type.
aws_error() {
  local type message
  type=$(json_field __type "$1") message=$(json_field message "$1")
  if [[ -z $message ]]; then message=$(json_field Message "$1"); fi
  type=${type##*#}
  printf '%s' "${type:-error}${message:+: ${message:0:300}}"
}

# The string value of "key" in a small flat JSON object (no jq on the hosts). Values with escaped
# quotes are cut at the first one, which is enough for what is read here (tokens, ids, messages).
json_field() {
  local re='"'"$1"'"[[:space:]]*:[[:space:]]*"([^"]*)"'
  if [[ $2 =~ $re ]]; then printf '%s' "${BASH_REMATCH[1]}"; fi
}

# tcpdump compiles the filter in the toolbox, with the capture's namespaces and capabilities, so a
# bad expression fails here with tcpdump's own words instead of as an empty capture. The filter
# travels as a file (-F): it is never part of a shell string.
check_filter() {
  local status=0 message
  printf '%s\n' "${P[filter]}" >"$OUT/filter.bpf"
  local -a cmd=(tcpdump -d -F /out/filter.bpf) iface=${P[iface]:-$CAPTURE_IFACE}
  if [[ -n $iface ]]; then cmd+=(-i "$iface"); fi
  CREATED_CONTAINERS=1
  interruptible timeout "$HELPER_TIMEOUT_SECONDS" docker run --rm --name "$CONTAINER-filter" \
    "${CONTAINER_LABELS[@]}" "${TARGET_NAMESPACES[@]}" "${TOOLBOX_SECURITY[@]}" "${TOOLBOX_LIMITS[@]}" \
    "${TOOLBOX_MOUNTS_RO[@]}" "${P[image]}" "${cmd[@]}" >/dev/null 2>"$WORK/filter.err" || status=$?
  if ((status == 0)); then return 0; fi
  message=$(grep -v 'Warning: assuming Ethernet' "$WORK/filter.err" | tail -n 3 | tr '\n' ' ' || true)
  message=${message% }
  if ((status >= 124 && status <= 127)); then
    fail CAPTURE_FAILED "The filter check container did not run (status $status): ${message:-no message}."
  elif [[ $message == *'No such device'* ]]; then
    fail INVALID_ARGUMENT "Interface ${P[iface]} does not exist in the target's network namespace: $message"
  fi
  fail INVALID_FILTER "tcpdump rejected the filter \"${P[filter]}\": ${message:-it failed with status $status}"
}

# --- the toolbox ----------------------------------------------------------------------------------

# Linux capabilities per tool, added to --cap-drop ALL (lib/domain/tools.ts keeps the same table).
# tcpdump: Debian's build always drops privileges after opening the capture (initgroups), which
# needs SETGID even with `-Z root`; without it, it refuses to start.
# Sets TOOL_CAPS (an array, not output: no subshell on the start path).
tool_caps() {
  case $1 in
    tcpdump) TOOL_CAPS=(NET_ADMIN NET_RAW SETGID) ;;
    ngrep) TOOL_CAPS=(NET_ADMIN NET_RAW) ;;
    strace) TOOL_CAPS=(SYS_PTRACE) ;;
    snapshot) TOOL_CAPS=(NET_ADMIN) ;;
  esac
}

takes_filter() { [[ $1 == tcpdump || $1 == ngrep ]]; }

tool_format() { if [[ $1 == tcpdump ]]; then echo pcap; else echo text; fi; }

tool_extension() { if [[ $1 == tcpdump ]]; then echo pcap; else echo txt; fi; }

# The tool's argv inside the toolbox. Values go in as separate words, never as shell text.
tool_command() {
  local iface=${P[iface]:-$CAPTURE_IFACE} filter_args=()
  if [[ -n ${P[filter]} ]]; then filter_args=(-F /out/filter.bpf); fi
  case ${P[tool]} in
    tcpdump)
      # No -i by default: tcpdump then opens the task's first non-loopback interface, whose link
      # type old Wireshark reads (-i any would write LINUX_SLL2); a host-network target gets the
      # host's default-route interface (check_host_network). -U: each packet reaches the size cap
      # as it arrives; -w -: the cap is applied on the pipe.
      TOOL_CMD=(tcpdump -Z root -U -n -s "${P[snaplen]}" -w -)
      if [[ -n $iface ]]; then TOOL_CMD+=(-i "$iface"); fi
      TOOL_CMD+=("${filter_args[@]}")
      ;;
    ngrep)
      # -R: ngrep would otherwise drop privileges, which --cap-drop ALL does not allow.
      TOOL_CMD=(ngrep -R -q -t -W byline -l)
      if [[ ${P[snaplen]} != 0 ]]; then TOOL_CMD+=(-s "${P[snaplen]}"); fi
      if [[ -n $iface ]]; then TOOL_CMD+=(-d "$iface"); fi
      TOOL_CMD+=("${filter_args[@]}")
      ;;
    strace)
      # PID 1 of the shared pid namespace is the target's main process.
      TOOL_CMD=(strace -f -tt -p 1 -o /dev/stdout)
      ;;
    snapshot)
      TOOL_CMD=(sh /debug-task/snapshot.sh)
      ;;
  esac
}

# /debug-task/toolbox.sh, run by the toolbox's /bin/sh (dash, busybox). Arguments: duration, max
# bytes, the tool's argv.
# The tool's status goes through a file because those shells may lack pipefail.
# shellcheck disable=SC2016 # expanded by the toolbox's shell, not here
readonly TOOLBOX_SCRIPT='
duration=$1 max=$2
shift 2
{ timeout -s INT "$duration" "$@" 2>/out/tool.err; echo "$?" >/out/tool.status; } | head -c "$max" >/out/artifact
'

# /debug-task/snapshot.sh: one text report of the target's sockets, processes, addresses and routes. Real binaries are
# preferred by path: busybox's shell would otherwise run its own smaller applets.
# shellcheck disable=SC2016 # expanded by the toolbox's shell, not here
readonly SNAPSHOT_SCRIPT='
first() { for c in "$@"; do if [ -x "$c" ]; then echo "$c"; return 0; fi; done; echo "${1##*/}"; }
section() { printf "\n=== %s\n" "$*"; "$@" 2>&1 || printf "(exit status %s)\n" "$?"; }
ip=$(first /usr/sbin/ip /sbin/ip /usr/bin/ip /bin/ip)
ss=$(first /usr/bin/ss /usr/sbin/ss /bin/ss /sbin/ss)
ps=$(first /usr/bin/ps /bin/ps)
printf "debug-task snapshot at %s UTC\n" "$(date -u "+%Y-%m-%d %H:%M:%S")"
section "$ss" -tanp
section "$ss" -uanp
section "$ss" -s
section "$ps" -eo pid,ppid,user,stat,etime,args
section "$ip" addr
section "$ip" route
section "$ip" -6 route
section cat /proc/net/sockstat
if command -v conntrack >/dev/null 2>&1; then section conntrack -L; else printf "\n=== conntrack -L\n(conntrack is not in the toolbox image)\n"; fi
'

# /debug-task/finish-pcap.sh rewrites a pcap cut by the size cap: tcpdump -r stops at the partial last packet and -w keeps
# every whole one, so the result reads cleanly. Then counts the packets kept.
# shellcheck disable=SC2016 # expanded by the toolbox's shell, not here
readonly FINISH_PCAP_SCRIPT='
tcpdump -Z root -r /out/artifact -w - 2>/out/finish.err >/out/artifact.clean
tcpdump -Z root -n -r /out/artifact.clean 2>/dev/null | wc -l >/out/packets
'

# Arguments shared by every container of the session.
set_container_args() {
  local cap
  # The sweeper acts on session and expires-at; caller and reason say, on the host itself, who
  # started this container and why (empty when not given).
  CONTAINER_LABELS=(--label "$LABEL_SESSION=$SESSION" --label "$LABEL_EXPIRES=${P[expiresAt]}"
    --label "debug-task.tool=${P[tool]}" --label "debug-task.caller=${P[caller]}"
    --label "debug-task.reason=${P[reason]}")
  TARGET_NAMESPACES=(--network "container:${P[containerId]}" --pid "container:${P[containerId]}")
  TOOLBOX_SECURITY=(--cap-drop ALL)
  tool_caps "${P[tool]}"
  for cap in "${TOOL_CAPS[@]}"; do TOOLBOX_SECURITY+=(--cap-add "$cap"); done
  TOOLBOX_SECURITY+=(--security-opt no-new-privileges --read-only)
  TOOLBOX_LIMITS=(--cpus "${P[cpus]}" --memory "${P[memoryMb]}m" --memory-swap "${P[memoryMb]}m"
    --pids-limit "${P[pidsLimit]}")
  TOOLBOX_MOUNTS=(-v "$OUT:/out" -v "$WORK/bin:/debug-task:ro")
  TOOLBOX_MOUNTS_RO=(-v "$OUT:/out:ro" -v "$WORK/bin:/debug-task:ro")
}

# Optimistic: the toolbox is started with --pull never, without asking first whether the image is
# here. Only when that start fails is the image looked up (docker image inspect, so nothing rests
# on the wording of docker's error); a missing one is pulled outside the lock, then the start is
# tried once more, under the lock and after a fresh count like the first.
start_toolbox() {
  tool_command
  toolbox_argv
  run_toolbox
  if ((!TOOLBOX_STARTED)); then
    if image_present; then
      fail CAPTURE_FAILED "The toolbox container did not start: $(last_lines "$WORK/run.err" 2)"
    fi
    check_capacity # a busy host refuses before a pull, as it did before anything else
    fetch_image
    run_toolbox
    if ((!TOOLBOX_STARTED)); then
      fail CAPTURE_FAILED "The toolbox container did not start: $(last_lines "$WORK/run.err" 2)"
    fi
  fi
  stamp_ms CAPTURE_STARTED_AT
  log "${P[tool]} runs for ${P[durationSeconds]}s in $CONTAINER (at most ${P[maxBytes]} bytes)"
}

# docker run -d of the toolbox, under the host lock, right after the session count that decides
# whether this host may run one more: another runner may have started since any earlier look.
# A failed start (the image missing among its causes) releases the lock and says so in
# TOOLBOX_STARTED: not by a status, so that set -e still holds inside (an `if` would lift it).
run_toolbox() {
  TOOLBOX_STARTED=0
  with_host_lock
  check_capacity
  CREATED_CONTAINERS=1
  if ! dk "${TOOLBOX_RUN[@]}" >/dev/null 2>"$WORK/run.err"; then
    release_host_lock
    return 0
  fi
  release_host_lock
  TOOLBOX_STARTED=1
}

# The toolbox's docker run, into TOOLBOX_RUN.
toolbox_argv() {
  TOOLBOX_RUN=(run -d --pull never --name "$CONTAINER" "${CONTAINER_LABELS[@]}" "${TARGET_NAMESPACES[@]}"
    "${TOOLBOX_SECURITY[@]}" "${TOOLBOX_LIMITS[@]}" "${TOOLBOX_MOUNTS[@]}" "${P[image]}"
    sh /debug-task/toolbox.sh "${P[durationSeconds]}" "${P[maxBytes]}" "${TOOL_CMD[@]}")
}

# A start at startAt (a fleet's children start together). Everything that may fail or take time
# comes first: the image (pulled now if missing), the filter, then a slot of the host's
# maxSessions, counted and claimed under the host lock ($WORK/slot: the runner's pid and start
# time, counted by count_other_sessions until the toolbox runs). Then the wait, and the start
# without the lock: the children of one host start at the same moment, not one after another.
start_toolbox_at() {
  check_capacity # a busy host refuses before a pull or a helper container
  ensure_image
  if takes_filter "${P[tool]}" && [[ -n ${P[filter]}${P[iface]} ]]; then check_filter; fi
  tool_command
  toolbox_argv
  with_host_lock
  check_capacity
  local start now late
  process_start_to start "$$"
  printf '%s %s\n' "$$" "$start" >"$WORK/slot"
  release_host_lock
  stamp_ms now
  late=$((now - 10#${P[startAt]} * 1000))
  if ((late < 0)); then
    printf -v start '%d.%03d' "$((-late / 1000))" "$((-late % 1000))"
    log "waiting ${start}s for startAt ${P[startAt]}"
    interruptible sleep "$start"
  else
    log "startAt ${P[startAt]} passed ${late} ms ago: starting at once"
  fi
  CREATED_CONTAINERS=1
  if ! dk "${TOOLBOX_RUN[@]}" >/dev/null 2>"$WORK/run.err"; then
    fail CAPTURE_FAILED "The toolbox container did not start: $(last_lines "$WORK/run.err" 2)"
  fi
  TOOLBOX_STARTED=1
  stamp_ms CAPTURE_STARTED_AT
  rm -f -- "$WORK/slot"
  log "${P[tool]} runs for ${P[durationSeconds]}s in $CONTAINER (at most ${P[maxBytes]} bytes)"
}

# The toolbox stops itself (timeout -s INT); if it has not after duration + grace, it is killed.
wait_for_toolbox() {
  local budget=$((P[durationSeconds] + STOP_GRACE_SECONDS)) status=0
  interruptible timeout "$budget" docker wait "$CONTAINER" >"$WORK/wait.out" 2>"$WORK/wait.err" || status=$?
  if ((status == 124)); then
    log "the toolbox did not stop within ${budget}s: killing it"
    FORCED_KILL=1
    dk kill "$CONTAINER" >/dev/null 2>&1 || true
    status=0
    interruptible timeout 15 docker wait "$CONTAINER" >"$WORK/wait.out" 2>"$WORK/wait.err" || status=$?
  fi
  stamp_ms CAPTURE_ENDED_AT
  if ((status != 0)); then
    fail CAPTURE_FAILED "The toolbox container disappeared before it finished (removed by a cleanup or the watchdog?): $(last_lines "$WORK/wait.err" 1)"
  fi
  local oom
  oom=$(dk inspect --format "$(tmpl .State.OOMKilled)" "$CONTAINER" 2>/dev/null || true)
  dk rm -f "$CONTAINER" >/dev/null 2>&1 || true
  if [[ $oom == true ]]; then
    fail CAPTURE_FAILED "The toolbox was killed at its memory limit (${P[memoryMb]} MiB); raise memoryMb."
  fi
}

# Reads the tool's status and messages; a stop that we caused is not a failure.
collect_tool_result() {
  local raw message bytes
  bytes=$(wc -c <"$OUT/artifact")
  if ((bytes >= P[maxBytes])); then
    TRUNCATED=true
    log "the artifact reached maxBytes (${P[maxBytes]}): the capture was cut there"
  fi
  raw=$(cat "$OUT/tool.status" 2>/dev/null || true)
  message=$(last_lines "$OUT/tool.err" 3)
  if ! [[ $raw =~ ^[0-9]+$ ]] && ((FORCED_KILL)); then
    fail CAPTURE_FAILED "${P[tool]} did not stop within ${STOP_GRACE_SECONDS}s of the end of its ${P[durationSeconds]}s (it ignored SIGINT): the runner killed the toolbox, and its output is not kept. ${message}"
  fi
  if ! [[ $raw =~ ^[0-9]+$ ]]; then
    fail CAPTURE_FAILED "${P[tool]} did not finish (the toolbox was stopped from outside). ${message}"
  fi
  TOOL_EXIT=$raw
  case $raw in
    # 124: coreutils timeout ended it; 130: it died of our SIGINT at the end of the duration.
    124 | 130) TOOL_EXIT=0 ;;
    # SIGPIPE: the size cap closed its output.
    141) if [[ $TRUNCATED == true ]]; then TOOL_EXIT=0; fi ;;
    # ngrep's "nothing matched".
    1) if [[ ${P[tool]} == ngrep ]]; then TOOL_EXIT=0; fi ;;
  esac
  if ((TOOL_EXIT != 0)); then
    fail CAPTURE_FAILED "${P[tool]} failed with status $raw: ${message:-no message}"
  fi
  if [[ ${P[tool]} == tcpdump ]]; then read_tcpdump_stats; fi
}

read_tcpdump_stats() {
  local stats
  stats=$(cat "$OUT/tool.err")
  if [[ $stats =~ link-type\ ([A-Za-z0-9_]+) ]]; then LINK_TYPE=${BASH_REMATCH[1]}; fi
  if [[ $stats =~ ([0-9]+)\ packets?\ captured ]]; then PACKETS=${BASH_REMATCH[1]}; fi
  if [[ $stats =~ ([0-9]+)\ packets?\ dropped\ by\ kernel ]]; then DROPPED=${BASH_REMATCH[1]}; fi
}

# A pcap cut mid-packet is rewritten so every reader takes it; tcpdump's own count then covers
# packets that never reached the file, so the packets kept are counted instead.
finish_artifact() {
  if [[ $TRUNCATED != true || ${P[tool]} != tcpdump ]]; then return 0; fi
  local status=0
  interruptible timeout "$HELPER_TIMEOUT_SECONDS" docker run --rm --name "$CONTAINER-finish" \
    "${CONTAINER_LABELS[@]}" --network none --cap-drop ALL --cap-add SETGID \
    --security-opt no-new-privileges --read-only "${TOOLBOX_LIMITS[@]}" "${TOOLBOX_MOUNTS[@]}" \
    "${P[image]}" sh /debug-task/finish-pcap.sh >/dev/null 2>"$WORK/finish.err" || status=$?
  if ((status != 0)) || [[ ! -s $OUT/artifact.clean ]]; then
    fail CAPTURE_FAILED "The capture was cut at maxBytes and could not be rewritten: $(last_lines "$OUT/finish.err" 2) $(last_lines "$WORK/finish.err" 2)"
  fi
  mv -f -- "$OUT/artifact.clean" "$OUT/artifact"
  PACKETS=$(tr -dc 0-9 <"$OUT/packets")
  DROPPED=''
}

# --- the artifact ---------------------------------------------------------------------------------

package_artifact() {
  local artifact=$OUT/artifact gz
  gz=$WORK/artifact.$(tool_extension "${P[tool]}").gz
  ARTIFACT_BYTES=$(wc -c <"$artifact")
  ARTIFACT_SHA=$(sha256 "$artifact")
  interruptible gzip -n -6 -c "$artifact" >"$gz"
  OBJECT_BYTES=$(wc -c <"$gz")
  OBJECT_SHA=$(sha256 "$gz")
  rm -f -- "$artifact"
  log "artifact: $ARTIFACT_BYTES bytes (sha256 $ARTIFACT_SHA), gzip $OBJECT_BYTES bytes"
}

deliver_artifact() {
  local gz
  gz=$WORK/artifact.$(tool_extension "${P[tool]}").gz
  if [[ -z ${P[uploadUrl]} ]]; then
    keep_artifact "$gz"
    log "no upload URL: the artifact is kept at $gz"
    STATUS=OK
    return 0
  fi
  if upload "$gz"; then
    UPLOADED=true
    STATUS=OK
    log "uploaded to $(redact_url "${P[uploadUrl]}")"
    return 0
  fi
  keep_artifact "$gz"
  fail UPLOAD_FAILED "The upload to $(redact_url "${P[uploadUrl]}") failed $UPLOAD_TRIES times ($(last_lines "$WORK/curl.err" 1)); the artifact is kept at $gz until $(utc_date "$KEEP_UNTIL")."
}

# From the host's own network: the task's security groups and egress rules are not ours to use.
upload() {
  local file=$1 attempt=1 delay=1
  while :; do
    if interruptible curl --fail -sS -X PUT -T "$file" -o /dev/null --connect-timeout 10 \
      --speed-limit 1024 --speed-time 30 "${P[uploadUrl]}" 2>"$WORK/curl.err"; then
      return 0
    fi
    log "upload attempt $attempt of $UPLOAD_TRIES failed: $(last_lines "$WORK/curl.err" 1)"
    if ((attempt >= UPLOAD_TRIES)); then return 1; fi
    interruptible sleep "$delay"
    attempt=$((attempt + 1)) delay=$((delay * 2))
  done
}

# Keeps the artifact for `debug-task fetch` (action=reupload): keep-until is KEEP_SECONDS past the
# later of expiresAt and now (cleanup and the sweeper leave it until then), and the facts of the
# manifest go next to it, so that a re-upload reports exactly what this run computed.
keep_artifact() {
  local now until
  HOST_PATH=$1
  now_s now
  until=$((10#${P[expiresAt]}))
  if ((now > until)); then until=$now; fi
  KEEP_UNTIL=$((until + KEEP_SECONDS))
  {
    printf 'tool=%s\n' "${P[tool]}"
    printf 'bytes=%s\nsha256=%s\n' "$ARTIFACT_BYTES" "$ARTIFACT_SHA"
    printf 'objectBytes=%s\nobjectSha256=%s\n' "$OBJECT_BYTES" "$OBJECT_SHA"
    printf 'linkType=%s\ntruncated=%s\n' "$LINK_TYPE" "$TRUNCATED"
  } >"$WORK/$FACTS_FILE"
  printf '%s\n' "$KEEP_UNTIL" >"$WORK/keep-until"
  KEEP_WORKDIR=1
}

# UTC date of the Unix time $1, for messages.
utc_date() { date -u -d "@$1" '+%Y-%m-%dT%H:%M:%SZ' 2>/dev/null || printf '%s' "$1"; }

kept_artifact_path() {
  local matches=("$WORK"/artifact.*.gz)
  if [[ -e ${matches[0]} ]]; then printf '%s' "${matches[0]}"; fi
}

kept_artifact_still_wanted() {
  local until
  until=$(tr -dc 0-9 <"$WORK/keep-until" 2>/dev/null || true)
  [[ -n $until && -n $(kept_artifact_path) ]] && (($(date +%s) < until))
}

# --- the watchdog ---------------------------------------------------------------------------------

# Runs apart from the runner (own session, via setsid), so it outlives a runner killed with
# SIGKILL: at expiresAt it removes the session's containers and, when the runner is gone, its work
# dir (a kept artifact stays). The runner stops it on every exit path it lives through.
watchdog_main() {
  set -u
  local session=$1 expires=$2 work=$3 runner=$4 now ids
  echo "$$" >"$work/watchdog.pid"
  while now=$(date +%s) && ((now < expires)); do sleep $((expires - now)); done
  ids=$(docker ps -aq --filter "label=debug-task.session=$session")
  if [[ -n $ids ]]; then
    # shellcheck disable=SC2086 # container ids: one word each
    docker rm -f $ids
  fi
  if ! kill -0 "$runner" 2>/dev/null && [[ ! -e $work/keep-until ]]; then rm -rf -- "$work"; fi
}

start_watchdog() {
  # In / so that it does not keep the work dir busy; no stdio, so that nothing waits on it.
  (cd / && exec setsid "$BASH" -c "$(declare -f watchdog_main); watchdog_main \"\$@\"" debug-task-watchdog \
    "$SESSION" "$((10#${P[expiresAt]}))" "$WORK" "$$") </dev/null >/dev/null 2>&1 3>&- &
  WATCHDOG_STARTED=1
  # Up to 5 s for the watchdog to say its pid. It usually does within a few ms: poll finely, as a
  # 0.1 s step cost every session ~95 ms of start time (BENCHMARKS.md, host start overhead).
  for _ in {1..500}; do
    if [[ -s $WORK/watchdog.pid ]]; then break; fi
    sleep 0.01
  done
  local until
  utc_hms until "$((10#${P[expiresAt]}))"
  log "watchdog armed for $until UTC"
}

# Stops this session's watchdog, after making sure the pid is still that watchdog.
stop_watchdog() {
  local pid cmdline
  pid=$(tr -dc 0-9 2>/dev/null <"$WORK/watchdog.pid" || true)
  if [[ -z $pid || ! -r /proc/$pid/cmdline ]]; then return 1; fi
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline")
  if [[ $cmdline != *debug-task-watchdog*"$SESSION"* ]]; then return 1; fi
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
}

# --- the sweep ------------------------------------------------------------------------------------

# Counts for the sweep's manifest, and the sessions it removed something of.
declare -A SWEPT=([containersRemoved]=0 [containersFailed]=0 [containersKept]=0 [watchdogsStopped]=0
  [workDirsRemoved]=0 [workDirsFailed]=0 [workDirsKept]=0)
declare -a SWEPT_SESSIONS=()

# Everything expired on this host, whatever happened to its session: a scheduled backstop for the
# watchdogs (a host that rebooted has none) and for runners killed before their teardown.
sweep_host() {
  local now
  check_engine
  now=$(date +%s)
  sweep_watchdogs "$now"
  sweep_containers "$now"
  sweep_workdirs "$now"
  log "removed ${SWEPT[containersRemoved]} container(s) and ${SWEPT[workDirsRemoved]} work dir(s), stopped ${SWEPT[watchdogsStopped]} watchdog(s); kept ${SWEPT[containersKept]} container(s) and ${SWEPT[workDirsKept]} work dir(s) not yet expired"
  SWEEP_REPORT=$(sweep_json)
  STATUS=OK
}

# A watchdog outlives its session only when it is stuck (its docker rm hangs): stop those of
# expired sessions of this work root. Found by their argv, as start_watchdog sets it:
#   bash -c <script> debug-task-watchdog <session> <expiresAt> <work dir> <runner pid>
sweep_watchdogs() {
  local now=$1 file pid cmdline session expires work
  local re=' debug-task-watchdog (dt-[a-z0-9-]+) ([0-9]{1,10}) ([^ ]+) [0-9]+ ?$'
  while IFS= read -r file; do
    pid=${file#/proc/} pid=${pid%/cmdline}
    cmdline=$({ tr '\0' ' ' <"$file"; } 2>/dev/null || true)
    if [[ $pid == "$$" ]] || ! [[ $cmdline =~ $re ]]; then continue; fi
    session=${BASH_REMATCH[1]} expires=${BASH_REMATCH[2]} work=${BASH_REMATCH[3]}
    if ! is_session_id "$session" || [[ $work != "$WORK_ROOT/$session" ]] || ((10#$expires > now)); then continue; fi
    # start_watchdog runs it with setsid: its process group holds its sleep and docker calls too.
    if kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null; then
      SWEPT[watchdogsStopped]=$((SWEPT[watchdogsStopped] + 1))
      note_swept "$session"
    fi
  done < <(grep -lsaF -- debug-task-watchdog /proc/[0-9]*/cmdline || true)
}

# Every container labelled with a session, running or not; removed when its expires-at has passed.
# One without a readable expires-at is left alone: nothing says it is over.
sweep_containers() {
  local now=$1 listing remaining id session expires
  local -a expired=()
  if ! listing=$(dk ps -a --no-trunc --filter "label=$LABEL_SESSION" \
    --format "$(tmpl .ID)|$(tmpl ".Label \"$LABEL_SESSION\"")|$(tmpl ".Label \"$LABEL_EXPIRES\"")" 2>/dev/null); then
    fail CAPTURE_FAILED "docker ps failed (or took over ${DOCKER_CALL_TIMEOUT}s): no container was swept."
  fi
  while IFS='|' read -r id session expires; do
    if ! [[ $id =~ ^[0-9a-f]{64}$ ]]; then continue; fi
    if [[ $expires =~ ^[0-9]{10}$ ]] && ((10#$expires <= now)); then
      expired+=("$id")
      note_swept "$session"
    else
      SWEPT[containersKept]=$((SWEPT[containersKept] + 1))
    fi
  done <<<"$listing"
  if ((${#expired[@]} == 0)); then return 0; fi
  dk rm -f "${expired[@]}" >/dev/null 2>&1 || true
  # Counted from what is left: a container that went away by itself meanwhile is not a failure.
  remaining=$(dk ps -aq --no-trunc --filter "label=$LABEL_SESSION" 2>/dev/null || true)
  for id in "${expired[@]}"; do
    if grep -qxF -- "$id" <<<"$remaining"; then
      SWEPT[containersFailed]=$((SWEPT[containersFailed] + 1))
    else
      SWEPT[containersRemoved]=$((SWEPT[containersRemoved] + 1))
    fi
  done
}

# Work dirs named like a session, once the session (or its kept artifact) has expired and its runner
# is gone. Nothing else under the work root is touched.
sweep_workdirs() {
  local now=$1 dir session until
  if [[ ! -d $WORK_ROOT ]]; then return 0; fi
  for dir in "$WORK_ROOT"/dt-*; do
    session=${dir##*/}
    if [[ ! -d $dir || -L $dir ]] || ! is_session_id "$session"; then continue; fi
    until=$(workdir_expiry "$dir")
    if ((now < until)) || runner_alive "$dir"; then
      SWEPT[workDirsKept]=$((SWEPT[workDirsKept] + 1))
    elif rm -rf -- "$dir" 2>/dev/null; then
      SWEPT[workDirsRemoved]=$((SWEPT[workDirsRemoved] + 1))
      note_swept "$session"
    else
      SWEPT[workDirsFailed]=$((SWEPT[workDirsFailed] + 1))
    fi
  done
}

# Unix time a work dir may go: the later of its keep-until (a kept artifact) and its expires-at; a
# day after its last change when it records neither.
workdir_expiry() {
  local dir=$1 file value until=''
  for file in keep-until expires-at; do
    if [[ ! -f $dir/$file ]]; then continue; fi
    value=$(tr -dc 0-9 <"$dir/$file" || true)
    if [[ $value =~ ^[0-9]{1,10}$ ]] && { [[ -z $until ]] || ((10#$value > until)); }; then until=$((10#$value)); fi
  done
  if [[ -z $until ]]; then until=$(($(stat -c %Y -- "$dir") + UNKNOWN_EXPIRY_SECONDS)); fi
  printf '%s' "$until"
}

# True while the runner that wrote the dir's runner.pid still runs (same pid, same start time): it
# may be uploading past expiresAt, within SSM's execution timeout.
runner_alive() {
  local pid='' start=''
  if [[ ! -f $1/runner.pid ]]; then return 1; fi
  read -r pid start <"$1/runner.pid" || true
  [[ $pid =~ ^[0-9]+$ && -n $start && $(process_start "$pid") == "$start" ]]
}

# A session id as run and cleanup take it (the parameter's own pattern also admits '').
is_session_id() {
  local pattern_var=PATTERN_sessionId
  [[ -n $1 && $1 =~ ${!pattern_var} ]]
}

note_swept() {
  local session=$1 seen
  if ! is_session_id "$session" || ((${#SWEPT_SESSIONS[@]} >= SWEEP_LIST_MAX)); then return 0; fi
  for seen in "${SWEPT_SESSIONS[@]}"; do if [[ $seen == "$session" ]]; then return 0; fi; done
  SWEPT_SESSIONS+=("$session")
}

sweep_json() {
  local name sessions='' session
  printf '"sweep":{'
  for name in containersRemoved containersFailed containersKept watchdogsStopped workDirsRemoved workDirsFailed workDirsKept; do
    printf '"%s":%s,' "$name" "${SWEPT[$name]}"
  done
  for session in "${SWEPT_SESSIONS[@]}"; do sessions+=${sessions:+,}$(json_str "$session"); done
  printf '"sessions":[%s]}' "$sessions"
}

# --- teardown and the manifest --------------------------------------------------------------------

# The session's containers; with "fleet", its children's <id>-NNNN too. Prints how many.
remove_session_containers() {
  local ids='' count=0 id session
  if [[ ${1-} == fleet ]]; then
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

on_exit() {
  local status=$?
  trap '' INT TERM HUP
  set +e
  if [[ -z $ERROR_CODE && $STATUS != OK ]]; then
    ERROR_CODE=CAPTURE_FAILED
    ERROR_MESSAGE="The runner stopped unexpectedly (status $status) at line ${FAILED_LINE:-?}: ${FAILED_COMMAND:-unknown command}"
  fi
  if [[ ${P[action]-run} == run ]]; then teardown; fi
  if [[ ${P[action]-} == reupload && -z ${P[planUrl]-} ]]; then reupload_teardown; fi
  if [[ ${P[action]-} == plan || -n ${P[planUrl]-} ]]; then fleet_teardown; fi
  emit_manifest
  if [[ -n $ERROR_CODE ]]; then log "failed: $ERROR_CODE: $ERROR_MESSAGE"; fi
  exit "$(exit_status)"
}

fleet_teardown() {
  stop_children
  fleet_children_json
  if ((WORKDIR_CREATED)); then rm -rf -- "$WORK"; fi
}

on_signal() {
  fail CANCELLED "The runner received SIG$1 (the session was cancelled or ran out of time); everything it started was removed."
}

# Records the first error and exits; the EXIT trap tears down and prints the manifest.
fail() {
  if [[ -z $ERROR_CODE ]]; then
    ERROR_CODE=$1 ERROR_MESSAGE=$2
    if [[ $1 == UPLOAD_FAILED ]]; then STATUS=UPLOAD_FAILED; else STATUS=FAILED; fi
  fi
  exit 1
}

exit_status() {
  case $ERROR_CODE in
    '') echo 0 ;;
    INVALID_ARGUMENT | INVALID_FILTER) echo 2 ;;
    CONTAINER_NOT_FOUND | HOST_NETWORK_NOT_ALLOWED) echo 3 ;;
    CANCELLED) echo 130 ;;
    *) echo 4 ;;
  esac
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
  if [[ ${P[action]-} == plan || -n ${P[planUrl]-} ]]; then
    json=$(printf '{"v":2,"action":"%s","sessionId":%s,"instanceId":%s,"status":%s%s,"children":%s,"counts":{%s},"unreported":[%s],"workRoot":%s' \
      "${P[action]}" "$(json_str "$SESSION")" "$(json_str "$INSTANCE_ID")" "$(json_str "$STATUS")" "$(error_json)" "${#FLEET_PIDS[@]}" "$FLEET_COUNTS" "$FLEET_JSON" "$(json_str "$WORK_ROOT")")
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
  if [[ -n ${P[manifestUrl]-} ]] && ! put_manifest "$json"; then json="${json%\}},\"manifestUploaded\":false}"; fi
  printf '%s\n' "$json" >&3
}

# The manifest next to the artifact in S3 (the same retries as the artifact's upload).
put_manifest() {
  local file attempt=1 delay=1
  file=$(mktemp) || return 1
  printf '%s\n' "$1" >"$file"
  if [[ -d $WORK ]]; then cp -- "$file" "$WORK/manifest.json" 2>/dev/null || true; fi
  while :; do
    if curl --fail -sS -X PUT -T "$file" -H 'Content-Type: application/json' -o /dev/null --connect-timeout 10 \
      "${P[manifestUrl]}" 2>/dev/null; then
      rm -f -- "$file"
      return 0
    fi
    if ((attempt >= UPLOAD_TRIES)); then rm -f -- "$file"; return 1; fi
    sleep "$delay"
    attempt=$((attempt + 1)) delay=$((delay * 2))
  done
}

# At most 1000 characters of message: enough for what failed, what to do and AWS's own words,
# small beside the 24,000 characters of output SSM keeps. 300 in a fleet (its manifest and each
# child's): many share those 24,000.
error_json() {
  local max=1000
  if [[ ${P[action]-} == plan ]]; then max=300; fi
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

# --- small helpers --------------------------------------------------------------------------------

# Times come from bash builtins, not date: a fork for every progress line and timestamp added up to
# ~15 ms of every start (BENCHMARKS.md, figure 1).
log() {
  local now hms
  now_s now
  utc_hms hms "$now"
  printf '%s debug-task %s: %s\n' "$hms" "${SESSION:-${P[action]:-?}}" "$*" >&2
}

# Sets the variable named $1 to the Unix time in seconds (printf's %(...)T: bash 4.2+).
now_s() { printf -v "$1" '%(%s)T' -1; }

# Sets the variable named $1 to HH:MM:SS, UTC, of the Unix time $2 (arithmetic: no time zone).
utc_hms() {
  local day=$(($2 % 86400))
  printf -v "$1" '%02d:%02d:%02d' "$((day / 3600))" "$((day % 3600 / 60))" "$((day % 60))"
}

# Sets the variable named $1 to the Unix time in milliseconds. $EPOCHREALTIME (bash 5: AL2023,
# Flatcar) is "<seconds>.<microseconds>" (LC_ALL=C: a dot); bash 4 (AL2) asks date.
if ((BASH_VERSINFO[0] >= 5)); then
  stamp_ms() {
    local t=$EPOCHREALTIME
    printf -v "$1" '%s%s' "${t%.*}" "${t:${#t}-6:3}"
  }
else
  stamp_ms() { printf -v "$1" '%s' "$(date +%s%3N)"; }
fi

now_ms() {
  local ms
  stamp_ms ms
  printf '%s' "$ms"
}

# A process's start time (clock ticks after boot, field 22 of /proc/<pid>/stat); empty when it is gone.
process_start() {
  local start
  process_start_to start "$1"
  printf '%s' "$start"
}

# The same, into the variable named $1 (read by the builtin: no fork on the start path).
process_start_to() {
  local stat='' fields=()
  # -d '': the whole file, whatever the command name holds; status 1 at its end is expected.
  { read -r -d '' stat <"/proc/$2/stat"; } 2>/dev/null || true
  # Field 2, the command name in parentheses, may hold spaces: count from after its ')'.
  stat=${stat##*) }
  read -r -a fields <<<"$stat"
  printf -v "$1" '%s' "${fields[19]-}"
}

# Children never get fd 3 (the manifest's stdout): SSM waits for that pipe to close, and one that
# outlived a killed runner would hold it open.
dk() { timeout "$DOCKER_CALL_TIMEOUT" docker "$@" 3>&-; }

# Runs a long command in the background and waits for it, so a signal reaches the trap at once
# (bash holds traps until a foreground command returns); the trap stops the command.
interruptible() {
  local status=0
  "$@" 3>&- &
  CHILD_PID=$!
  wait "$CHILD_PID" || status=$?
  CHILD_PID=''
  return "$status"
}

# A Go template for docker --format. The document must not contain a double brace at all (SSM
# reads one as a parameter reference), so the braces are assembled here.
tmpl() {
  local brace='{'
  printf '%s%s%s}}' "$brace" "$brace" "$1"
}

# A Go template for docker --format, into the variable named $1 (no subshell).
tmpl_to() {
  local brace='{'
  printf -v "$1" '%s%s%s}}' "$brace" "$brace" "$2"
}

with_host_lock() {
  if command -v flock >/dev/null; then
    exec 9>"$WORK_ROOT/.lock"
    flock -w 30 9 || log "could not take $WORK_ROOT/.lock within 30s; going on without it"
  fi
}

release_host_lock() { exec 9>&-; }

sha256() { sha256sum -- "$1" | cut -d ' ' -f 1; }

last_lines() {
  local text
  text=$(tail -n "$2" -- "$1" 2>/dev/null | tr '\n' ' ' || true)
  printf '%s' "${text% }"
}

redact_url() {
  local url=${1%%\?*}
  printf '%s' "$url"
}

json_escape() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}
  s=${s//$'\r'/\\r}
  s=${s//$'\t'/\\t}
  s=${s//[$'\001'-$'\037'$'\177']/ }
  s=${s//[$'\200'-$'\377']/?} # the manifest stays ASCII whatever bytes a tool printed
  printf '%s' "$s"
}

json_str() { printf '"%s"' "$(json_escape "$1")"; }

json_num() { if [[ $1 =~ ^[0-9]+$ ]]; then printf '%s' "$1"; else printf 'null'; fi; }

main "$@"
