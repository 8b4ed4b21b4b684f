# shellcheck shell=bash
# Checks before anything is started: the engine, the target container and its namespaces, the
# host's session count, free disk.

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
  local cid=${P[containerId]} state format field status=0 run_state pid name net_mode pid_mode shown
  if ! command -v docker >/dev/null; then fail CAPTURE_FAILED 'The docker CLI is not installed on this host.'; fi
  # One inspect, five fields separated by '|' (in none of them): status, pid, /name, network mode
  # (awsvpc gives container:<pause id>, bridge bridge or a network's name, host host), pid mode
  # ('' for the container's own, host, container:<id>).
  tmpl_to format .State.Status
  for field in .State.Pid .Name .HostConfig.NetworkMode .HostConfig.PidMode; do
    tmpl_to state "$field"
    format+="|$state"
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
  IFS='|' read -r run_state pid name net_mode pid_mode <<<"$state" || true
  if [[ $run_state != running ]]; then
    fail CONTAINER_NOT_FOUND "Container $cid is ${run_state:-in no known state}, not running."
  fi
  name=${name#/}
  TARGET_PID=$pid
  shown=$cid
  if [[ -n $name ]]; then shown="$name ($cid)"; fi
  if [[ $net_mode == host ]]; then check_host_network "$shown" "$pid"; fi
  if [[ $pid_mode == host ]]; then check_host_pid "$shown"; fi
  log "target container $cid is running"
}

# A container with pidMode host sees every process of the host, and so does a toolbox next to it:
# strace -p 1 would trace the host's init and all it starts, snapshot would list every process of
# the host with its arguments. Refused (before any tool runs; a gated toolbox is removed unopened:
# start_toolbox_overlapped) unless the session asked for it.
check_host_pid() {
  local shown=$1
  if [[ ${P[allowHostPid]} != true ]]; then
    fail HOST_PID_NOT_ALLOWED "Container $shown shares the host's pid namespace (PidMode host): a toolbox next to it would see every process of the host, and strace would trace the host's init. No tool was run; re-run with --allow-host-pid if debugging next to the host's processes is intended."
  fi
  log "container $shown shares the host's pid namespace and allowHostPid is true: the toolbox joins it and sees every process of the host"
}

# A container in the host's network mode shares the host's network namespace, and so does a
# toolbox next to it: a capture there sees every interface and all the traffic of the host, not one
# task's. Refused (before any tool runs; a gated toolbox is removed unopened:
# start_toolbox_overlapped) unless the session asked for it (allowHostNetwork).
check_host_network() {
  local shown=$1 pid=$2 where=''
  if [[ ${P[allowHostNetwork]} != true ]]; then
    fail HOST_NETWORK_NOT_ALLOWED "Container $shown uses the host's network (NetworkMode host): a capture next to it would see the traffic of the whole host, not only its own. No tool was run; re-run with --allow-host-network if capturing the host's traffic is intended."
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
# Sets the variable named $1. Counted in bash, not awk: one fork less on every start. The listing
# is the one start_session_listing began under the host lock when there is one (used once), else
# a docker ps now.
count_other_sessions() {
  local format listing='' line slot pid start now_start status=0
  local -A seen=()
  for slot in "$WORK_ROOT"/dt-*/slot; do
    line=${slot%/slot} line=${line##*/} pid='' start='' now_start=''
    if [[ $line == "$SESSION" || ! -f $slot ]]; then continue; fi
    read -r pid start <"$slot" || true
    if [[ $pid =~ ^[0-9]+$ ]]; then process_start_to now_start "$pid"; fi
    if [[ -n $start && $now_start == "$start" ]]; then seen[$line]=1; fi
  done
  if [[ -n $SESSIONS_PID ]]; then
    wait "$SESSIONS_PID" || status=$?
    SESSIONS_PID=''
    { read -r -d '' listing <"$WORK/sessions"; } 2>/dev/null || true
  else
    tmpl_to format ".Label \"$LABEL_SESSION\""
    listing=$(dk ps --filter "label=$LABEL_SESSION" --format "$format" 2>/dev/null) || status=$?
  fi
  if ((status != 0)); then
    fail CAPTURE_FAILED "docker ps failed (or took over ${DOCKER_CALL_TIMEOUT}s): the host's sessions could not be counted."
  fi
  while IFS= read -r line; do
    if [[ -n $line && $line != "$SESSION" ]]; then seen[$line]=1; fi
  done <<<"$listing"
  printf -v "$1" '%s' "${#seen[@]}"
}

# The docker ps that count_other_sessions reads, begun in the background into $WORK/sessions by a
# runner holding the host lock (start_gated_toolbox): the count still holds under concurrency,
# since no other runner can start a toolbox before this one released the lock. The job closes the
# lock's descriptor (only the runner holds the lock, and its end or release frees it) and the
# toolbox's gate's (make_gate).
start_session_listing() {
  local format
  tmpl_to format ".Label \"$LABEL_SESSION\""
  (
    exec 8>&- 9>&-
    dk ps --filter "label=$LABEL_SESSION" --format "$format" >"$WORK/sessions" 2>/dev/null
  ) &
  SESSIONS_PID=$!
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
