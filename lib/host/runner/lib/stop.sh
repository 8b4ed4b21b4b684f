# shellcheck shell=bash
# Stopping a capture early and keeping it (action=stop, and a run that sees its stop marker).

# The marker a stop leaves in a capture's work dir: when the stop reached the host (Unix ms). The
# capture's manifest reports it (stoppedEarly, timings.stoppedAt).
readonly STOP_MARKER=stop-requested
# Made (mkdir: atomic) by whoever signals the tool, the stop action or the run itself, so the tool
# is signalled once.
readonly STOP_CLAIM=stop-signalled
# How long a stop waits for a toolbox that is starting to run its tool.
readonly STOP_FIND_SECONDS=5

# Writes the stop marker into work dir $1 (the first stop's time is kept).
stop_marker() {
  local ms
  if [[ -e $1/$STOP_MARKER ]]; then return 0; fi
  stamp_ms ms
  printf '%s\n' "$ms" >"$1/$STOP_MARKER"
}

# True for the first caller that claims the signal of work dir $1's tool, while toolbox $2 runs.
claim_stop() {
  local running
  running=$(dk inspect --format "$(tmpl .State.Running)" "$2" 2>/dev/null || true)
  [[ $running == true ]] && mkdir -- "$1/$STOP_CLAIM" 2>/dev/null
}

# The tool runs under the toolbox's `timeout` (TOOLBOX_SCRIPT), and is stopped the way its duration
# would have stopped it. GNU timeout (the production image) gets SIGALRM, what it gets itself when
# the duration ends: it stops the tool with SIGINT (tcpdump flushes and closes a valid pcap) and
# exits 124. Busybox's timeout (the sandbox's image, made of this machine's binaries) execs the tool
# in its own place and leaves a watcher that sends SIGINT at the end: the tool then gets that SIGINT
# from here. Either process is found among the descendants of the toolbox's main process, on the
# host (/proc), so no process of the target (which shares the toolbox's pid namespace) can be taken
# for it.
signal_toolbox() {
  local format facts main tool pid tool_pid _
  tmpl_to format '.State.Pid'
  facts=$(dk inspect --format "$format $(tmpl 'index .Config.Labels "debug-task.tool"')" "$1" 2>/dev/null || true)
  read -r main tool <<<"$facts" || true
  if ! [[ $main =~ ^[1-9][0-9]*$ && $tool =~ ^(tcpdump|ngrep|strace)$ ]]; then return 1; fi
  if [[ ! -d /proc/$main ]]; then
    signal_from_inside "$1"
    return
  fi
  # Only once the tool runs: a timeout signalled before it set its handlers (or busybox's before its
  # exec) would die of the signal instead, and the capture with it.
  for _ in $(seq $((STOP_FIND_SECONDS * 10))); do
    tool_pid=$(descendant_named "$main" "$tool")
    if [[ -n $tool_pid ]]; then
      pid=$(descendant_named "$main" timeout)
      if [[ -n $pid && $(readlink "/proc/$pid/exe" 2>/dev/null) == */timeout ]] && kill -ALRM "$pid" 2>/dev/null; then
        return 0
      fi
      if kill -INT "$tool_pid" 2>/dev/null; then return 0; fi
    fi
    if [[ ! -d /proc/$main ]]; then return 1; fi
    sleep 0.1
  done
  log "stop: no running ${tool} found among the processes of $1 here within ${STOP_FIND_SECONDS}s"
  signal_from_inside "$1"
}

# Where this runner does not share the engine's pid namespace (a runner in a container given the
# engine's socket, as in a development container), the toolbox's processes are not in its /proc:
# the toolbox's own shell then signals the tool (docker exec), as its clock does at the end of the
# duration: SIGINT to the pid the tool wrote before it started (TOOLBOX_SCRIPT). A fixed command:
# the pid is read inside the toolbox, never by this shell.
signal_from_inside() {
  local _
  # shellcheck disable=SC2016 # expanded by the toolbox's shell, not here
  for _ in $(seq $((STOP_FIND_SECONDS * 5))); do
    if dk exec "$1" sh -c 'test -s /out/tool.pid && kill -INT "$(cat /out/tool.pid)"' >/dev/null 2>&1; then
      log "stop: signalled the tool from inside $1 (this runner does not see the engine's processes)"
      return 0
    fi
    if [[ $(dk inspect --format "$(tmpl .State.Running)" "$1" 2>/dev/null || true) != true ]]; then return 1; fi
    sleep 0.2
  done
  log "stop: no running tool found inside $1 within ${STOP_FIND_SECONDS}s"
  return 1
}

# The first descendant of process $1 whose command name is $2 (/proc/<pid>/stat: ppid and comm).
descendant_named() {
  local root=$1 name=$2 file stat comm pid
  local -a fields=()
  local -A parent=() comms=()
  for file in /proc/[0-9]*/stat; do
    stat=''
    { read -r -d '' stat <"$file"; } 2>/dev/null || true
    if [[ -z $stat ]]; then continue; fi
    pid=${stat%% *}
    # Field 2, the command name in parentheses, may hold spaces: count from after its ')'.
    comm=${stat#*(}
    comm=${comm%)*}
    read -r -a fields <<<"${stat##*) }"
    parent[$pid]=${fields[1]-}
    comms[$pid]=$comm
  done
  for pid in "${!comms[@]}"; do
    if [[ ${comms[$pid]} != "$name" ]]; then continue; fi
    local up=${parent[$pid]-} hops=0
    while [[ -n $up && $up != 0 && $up != 1 ]] && ((hops < 16)); do
      if [[ $up == "$root" ]]; then
        printf '%s' "$pid"
        return 0
      fi
      up=${parent[$up]-}
      hops=$((hops + 1))
    done
  done
}

# A run whose stop marker is there (the stop came before its toolbox ran) stops its own tool now.
stop_if_asked() {
  if [[ -e $WORK/$STOP_MARKER ]] && claim_stop "$WORK" "$CONTAINER"; then
    log "a stop was asked for before the capture started: stopping it now"
    signal_toolbox "$CONTAINER" || true
  fi
}

# When the capture was stopped early: STOPPED_AT (Unix ms, from the marker: digits only, it is a
# file under the work dir read as data), set only when its tool was signalled and it ended before
# its duration (a stop that came as the capture ended anyway changed nothing).
STOPPED_AT=''
read_stop_marker() {
  local ms=''
  if [[ ! -d $WORK/$STOP_CLAIM || ! -f $WORK/$STOP_MARKER || -L $WORK/$STOP_MARKER ]]; then return 0; fi
  if [[ -z $CAPTURE_STARTED_AT || -z $CAPTURE_ENDED_AT ]]; then return 0; fi
  if ((CAPTURE_ENDED_AT - CAPTURE_STARTED_AT >= P[durationSeconds] * 1000)); then return 0; fi
  ms=$(head -c 20 -- "$WORK/$STOP_MARKER" | tr -dc 0-9 || true)
  if [[ -n $ms ]]; then STOPPED_AT=$ms; fi
}
