# shellcheck shell=bash
# The toolbox container: each tool's capabilities and argv, the scripts it runs, its start (at once
# or at startAt), its end, and what the tool reported.

# The tool's Linux capabilities, added to --cap-drop ALL: TOOL_CAPABILITIES, generated from the
# catalog (lib/domain/tools.ts says why each one is needed). Sets TOOL_CAPS (an array, not output:
# no subshell on the start path).
tool_caps() {
  # shellcheck disable=SC2206 # capability names: one word each, split on purpose
  TOOL_CAPS=(${TOOL_CAPABILITIES[$1]})
}

takes_filter() { [[ $1 == tcpdump || $1 == ngrep ]]; }

tool_format() { if [[ $1 == tcpdump ]]; then echo pcap; else echo text; fi; }

tool_extension() { if [[ $1 == tcpdump ]]; then echo pcap; else echo txt; fi; }

# True when tool $1 takes argument $2 (TOOL_TAKES, generated from the catalog's `takes`).
takes_argument() { [[ " ${TOOL_TAKES[$1]} " == *" $2 "* ]]; }

# The tool's argv inside the toolbox, and how it says it is listening (READY_FILE under /out holds
# READY_TEXT; empty: at once), which starts the capture's clock (TOOLBOX_SCRIPT). Values go in as
# separate words, never as shell text.
tool_command() {
  local iface=${P[iface]:-$CAPTURE_IFACE} filter_args=()
  if [[ -n ${P[filter]} ]]; then filter_args=(-F /out/filter.bpf); fi
  READY_FILE=tool.err READY_TEXT=''
  case ${P[tool]} in
    tcpdump)
      # No -i by default: tcpdump then opens the task's first non-loopback interface, whose link
      # type old Wireshark reads (-i any would write LINUX_SLL2); a host-network target gets the
      # host's default-route interface (check_host_network). -w -: the size cap is applied on the
      # pipe. -p: no promiscuous mode (the task's own traffic; and it would need NET_ADMIN).
      # Output is block-buffered unless the capture is followed: -U (a write per packet) costs ~6x
      # tcpdump's CPU per packet (measured: 2.4 vs 0.4 us), which under the toolbox's CPU cap is the
      # rate it can hold without drops (BENCHMARKS.md, figure 6). Every way a capture ends reaches
      # tcpdump as SIGINT (the clock, `stop`, the timeout) or SIGPIPE (the size cap), and tcpdump
      # flushes on both; only a follower reads the file while it grows, so only it needs -U.
      local buffering=()
      if follow_on; then buffering=(-U); fi
      TOOL_CMD=(tcpdump -p -Z root "${buffering[@]}" -n -s "${P[snaplen]}" -w -)
      # A ring buffer (lib/ring.sh): tcpdump writes its files in /out itself; never followed
      # (read_chunk_form refuses it), so never -U.
      if ring_on; then TOOL_CMD=(tcpdump -p -Z root -n -s "${P[snaplen]}" "${RING_TCPDUMP_ARGS[@]}"); fi
      if [[ -n $iface ]]; then TOOL_CMD+=(-i "$iface"); fi
      TOOL_CMD+=("${filter_args[@]}")
      # On stderr once its capture is open: "listening on eth0, link-type EN10MB ...".
      READY_TEXT='listening on '
      ;;
    ngrep)
      # -R: ngrep would otherwise drop privileges, which --cap-drop ALL does not allow; -p: no
      # promiscuous mode, as tcpdump.
      TOOL_CMD=(ngrep -p -R -q -t -W byline -l)
      if [[ ${P[snaplen]} != 0 ]]; then TOOL_CMD+=(-s "${P[snaplen]}"); fi
      if [[ -n $iface ]]; then TOOL_CMD+=(-d "$iface"); fi
      TOOL_CMD+=("${filter_args[@]}")
      # The match expression is ngrep's first operand; after `--`, so that no value is ever read as
      # an option (its pattern refuses a leading '-' as well).
      if [[ -n ${P[match]} ]]; then TOOL_CMD+=(-- "${P[match]}"); fi
      # On stdout (the artifact's first line) once its capture is open: "interface: eth0 (...)".
      READY_FILE=artifact READY_TEXT='interface: '
      ;;
    strace)
      # PID 1 of the shared pid namespace is the target's main process; pid names another of it.
      TOOL_CMD=(strace -f -tt -p "${P[pid]:-1}" -o /dev/stdout)
      if [[ -n ${P[syscalls]} ]]; then TOOL_CMD+=(-e "trace=${P[syscalls]}"); fi
      # On stderr once it traces: "strace: Process 1 attached".
      READY_TEXT=' attached'
      ;;
    snapshot)
      TOOL_CMD=(sh /debug-task/snapshot.sh)
      ;;
  esac
}

# /debug-task/toolbox.sh, run by the toolbox's /bin/sh (dash, busybox). Arguments: duration, the
# longest wait for the tool to listen (seconds), max bytes, READY_FILE, READY_TEXT, a time ring's
# window (seconds; 0: no pruner: lib/ring.sh) and bound (bytes), the tool's argv.
# The capture's clock starts when the tool is listening, not when the container starts (issue 16:
# a tool that takes a second to open its capture used to lose that second of a short capture): a
# clock process apart waits for READY_TEXT in /out/READY_FILE (at most the wait given; then it starts
# anyway), marks /out/listening, and `duration` seconds later stops the tool with SIGINT, as a
# user's Ctrl-C would; /out/ended marks the tool's end. The runner reads both marks' times. The
# clock looks every 10 ms for the first half second, where tcpdump gets ready (12-20 ms after its
# start here), then every 100 ms. Looking every 100 ms throughout, the mark came 88-96 ms after
# tcpdump's line, and every session waited that much longer for its end (BENCHMARKS.md, figure 2).
# The tool writes its pid before it starts (sh -c of a fixed text: its argv stays words), for the
# clock's SIGINT; `timeout` stays as the backstop should the clock fail. The tool's status goes
# through a file because those shells may lack pipefail.
# Last, the memory mark (/out/oom, "<oom_kill> <limit>"): its cgroup's count of OOM kills and its
# memory limit in bytes, read once the tool, the pruner and the clock are gone, from cgroup v2's
# memory.events and memory.max (the toolbox's own cgroup namespace: Amazon Linux 2023, Flatcar) or
# v1's memory.oom_control (oom_kill: Linux 4.13+) and memory.limit_in_bytes (Amazon Linux 2: the
# container's own memory cgroup mounted there). The runner skips its OOM inspect only when this mark
# proves a clean end (toolbox_end_clean); a missing file or line writes no mark.
# Before any of it, the gate (make_gate): the script reads one line from the FIFO /debug-task/gate
# and goes on only when the runner wrote "open" there, after every check of the start passed. An end
# of file (no writer left: the runner is gone) or any other line ends the toolbox here, having run
# nothing and opened nothing under /out.
# shellcheck disable=SC2016 # expanded by the toolbox's shell, not here
readonly TOOLBOX_SCRIPT='
IFS= read -r gate </debug-task/gate || exit 125
[ "$gate" = open ] || exit 125
duration=$1 ready_wait=$2 max=$3 ready_file=/out/$4 ready_text=$5 ring_window=$6 ring_bound=$7
shift 7
pruner=""
if [ "$ring_window" -gt 0 ]; then
  sh /debug-task/ring.sh loop "$ring_window" "$ring_bound" &
  pruner=$!
fi
(
  waited=0
  while [ -n "$ready_text" ] && [ "$waited" -lt $((ready_wait * 1000)) ]; do
    if [ -s /out/tool.pid ] && grep -qF -- "$ready_text" "$ready_file" 2>/dev/null; then break; fi
    if [ "$waited" -lt 500 ]; then
      sleep 0.01
      waited=$((waited + 10))
    else
      sleep 0.1
      waited=$((waited + 100))
    fi
  done
  : >/out/listening
  sleep "$duration"
  kill -INT "$(cat /out/tool.pid)" 2>/dev/null
) &
clock=$!
{ timeout -s INT $((duration + ready_wait)) sh -c '"'"'echo "$$" >/out/tool.pid; exec "$@"'"'"' tool "$@" 2>/out/tool.err; echo "$?" >/out/tool.status; } | head -c "$max" >/out/artifact
if [ -n "$pruner" ]; then
  kill "$pruner" 2>/dev/null
  wait "$pruner" 2>/dev/null
  sh /debug-task/ring.sh once "$ring_window" "$ring_bound"
fi
: >/out/ended
kill "$clock" 2>/dev/null
oom="" limit=""
if [ -r /sys/fs/cgroup/memory.events ]; then
  events=/sys/fs/cgroup/memory.events max=/sys/fs/cgroup/memory.max
else
  events=/sys/fs/cgroup/memory/memory.oom_control max=/sys/fs/cgroup/memory/memory.limit_in_bytes
fi
while read -r key value; do if [ "$key" = oom_kill ]; then oom=$value; fi; done 2>/dev/null <"$events"
read -r limit 2>/dev/null <"$max"
if [ -n "$oom" ] && [ -n "$limit" ]; then printf "%s %s\n" "$oom" "$limit" >/out/oom; fi
exit 0
'

# /debug-task/snapshot.sh: one text report of the target's sockets, processes, addresses and
# routes, with no capability at all (lib/domain/tools.ts): ss shows no process of another user's
# or more privileged socket. Real binaries are preferred by path: busybox's shell would otherwise
# run its own smaller applets.
# shellcheck disable=SC2016 # expanded by the toolbox's shell, not here
readonly SNAPSHOT_SCRIPT='
first() { for c in "$@"; do if [ -x "$c" ]; then echo "$c"; return 0; fi; done; echo "${1##*/}"; }
section() { printf "\n=== %s\n" "$*"; "$@" 2>&1 || printf "(exit status %s)\n" "$?"; }
ip=$(first /usr/sbin/ip /sbin/ip /usr/bin/ip /bin/ip)
ss=$(first /usr/bin/ss /usr/sbin/ss /bin/ss /sbin/ss)
ps=$(first /usr/bin/ps /bin/ps)
printf "debug-task snapshot at %s UTC\n" "$(date -u "+%Y-%m-%d %H:%M:%S")"
printf "\n(ss: the process column is empty on purpose: naming a socket'"'"'s process reads /proc/<pid>/fd, which the kernel allows only with SYS_PTRACE, a capability that would also let the snapshot trace the target; the processes are listed below)\n"
section "$ss" -tanp
section "$ss" -uanp
section "$ss" -s
section "$ps" -eo pid,ppid,user,stat,etime,args
section "$ip" addr
section "$ip" route
section "$ip" -6 route
section cat /proc/net/sockstat
printf "\n=== conntrack -L\n(not taken: reading the connection tracking table needs NET_ADMIN, which the snapshot does not get)\n"
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
    # Known only here, on the host, after the session started: not INVALID_ARGUMENT (exit 2 promises
    # that nothing was started) but the session's failure on its host, naming what the task has.
    fail CAPTURE_FAILED "Interface ${P[iface]} does not exist in the target's network namespace (it has: $(target_interfaces)); nothing was captured. Drop --iface (the task's own interface is used) or name one of those."
  fi
  fail INVALID_FILTER "tcpdump rejected the filter \"${P[filter]}\": ${message:-it failed with status $status}"
}

# The interfaces of the target's network namespace, comma-separated: the kernel's own list
# (/proc/net/dev), read by a helper container in that namespace (this runner's /proc is the engine's
# only where it shares the engine's pid namespace: on a host, not in a container given the engine's
# socket), else from the target's main process here. Nothing the toolbox wrote.
target_interfaces() {
  local names dev
  dev=$(timeout "$HELPER_TIMEOUT_SECONDS" docker run --rm --name "$CONTAINER-ifaces" "${CONTAINER_LABELS[@]}" \
    --network "container:${P[containerId]}" --cap-drop ALL --security-opt no-new-privileges --read-only \
    "${TOOLBOX_LIMITS[@]}" "${P[image]}" cat /proc/net/dev 2>/dev/null 3>&- ||
    cat "/proc/$TARGET_PID/net/dev" 2>/dev/null || true)
  names=$(sed -n '3,$s/^ *\([^:]*\):.*/\1/p' <<<"$dev" | tr '\n' ' ' || true)
  names=${names% }
  names=${names// /, }
  printf '%s' "${names:-unreadable}"
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
    if image_present; then toolbox_start_failed; fi
    pull_then_start
  fi
  toolbox_started
}

# The capture's clock starts with its toolbox (read_capture_clock moves it to the tool's listening).
toolbox_started() {
  stamp_ms CAPTURE_STARTED_AT
  log "${P[tool]} runs for ${P[durationSeconds]}s in $CONTAINER (at most ${P[maxBytes]} bytes)"
}

toolbox_start_failed() {
  fail CAPTURE_FAILED "The toolbox container did not start: $(last_lines "$WORK/run.err" 2)"
}

# The start failed for want of the image: a busy host refuses before a pull, as it did before
# anything else; then the image is pulled outside the lock and the start tried once more.
pull_then_start() {
  check_capacity
  fetch_image
  run_toolbox
  if ((!TOOLBOX_STARTED)); then toolbox_start_failed; fi
}

# docker run -d of the toolbox, under the host lock, right after the session count that decides
# whether this host may run one more: another runner may have started since any earlier look.
# Every check of the start passed before it (run_session, or start_toolbox_overlapped before its
# pull), so the gate opens as soon as the container runs.
# A failed start (the image missing among its causes) releases the lock and says so in
# TOOLBOX_STARTED: not by a status, so that set -e still holds inside (an `if` would lift it).
run_toolbox() {
  TOOLBOX_STARTED=0
  make_gate
  with_host_lock
  check_capacity
  CREATED_CONTAINERS=1
  if ! dk "${TOOLBOX_RUN[@]}" >/dev/null 2>"$WORK/run.err"; then
    release_host_lock
    return 0
  fi
  release_host_lock
  open_gate
  TOOLBOX_STARTED=1
}

# The toolbox's gate: a FIFO in $WORK/bin (/debug-task in the toolbox, read-only; never under /out,
# where check_toolbox_output refuses anything but regular files), which TOOLBOX_SCRIPT reads one
# line from before it runs anything. The runner holds it open read-write on descriptor 8 from
# before the toolbox's start to its own end: such an open never blocks on Linux, the toolbox's
# open for reading returns at once (a writer is there), its read waits until open_gate writes, and
# the line written stays in the pipe even when the toolbox opens it only later. When the runner is
# gone (killed), no writer is left and the toolbox's read ends (end of file): it exits having run
# nothing. The background jobs and the watchdog close descriptor 8, so that none of them keeps a
# writer alive after the runner. Made once (a pull's second start reuses it).
make_gate() {
  if ((GATE_MADE)); then return 0; fi
  mkfifo -m 0600 -- "$WORK/bin/gate"
  exec 8<>"$WORK/bin/gate"
  GATE_MADE=1
}

# Lets the gated toolbox run its tool: called only once every check of the start passed. A line
# per start: on a pull's second start (run_toolbox), the first line still waits unread in the pipe
# (no container of the failed start ever read it), so the second container finds the gate open too,
# as it may: the count under the lock came before that start.
open_gate() { printf 'open\n' >&8; }

# The toolbox's docker run (--pull never), into TOOLBOX_RUN.
toolbox_argv() {
  local -a argv=(--pull never --name "$CONTAINER" "${CONTAINER_LABELS[@]}" "${TARGET_NAMESPACES[@]}"
    "${TOOLBOX_SECURITY[@]}" "${TOOLBOX_LIMITS[@]}" "${TOOLBOX_MOUNTS[@]}" "${P[image]}"
    sh /debug-task/toolbox.sh "${P[durationSeconds]}" "$READY_WAIT_SECONDS" "${P[maxBytes]}"
    "$READY_FILE" "$READY_TEXT" "$RING_WINDOW_SECONDS" "$RING_BOUND_BYTES" "${TOOL_CMD[@]}")
  TOOLBOX_RUN=(run -d "${argv[@]}")
}

# The common start overlaps its docker calls: no startAt (start_toolbox_at), no filter or interface
# to check first (check_filter), no host network allowed (where the target's inspect decides the
# capture's interface, i.e. the toolbox's argv), and the only capture of its plan on this host
# (DEBUG_TASK_SHARE_SIZE, set by run_share): the starts of a share's children queue on the host
# lock anyway, and starting each child's gated toolbox ahead would start some beyond maxSessions
# only to remove them.
overlapped_start_fits() {
  [[ -z ${P[startAt]} && ${P[allowHostNetwork]} != true && ${DEBUG_TASK_SHARE_SIZE:-1} == 1 ]] &&
    ! { takes_filter "${P[tool]}" && [[ -n ${P[filter]}${P[iface]} ]]; }
}

# The common start: the toolbox is started gated, at once, and its gate opened only once every
# check passed (BENCHMARKS.md, figure 1). Docker's start of a container (~250 ms here, most of a
# session's start) thus runs beside the target's inspect and checks rather than after them.
# Under the host lock (taken at once when it is free), the session listing and the toolbox's
# `docker run -d --pull never` run in the background together while the target is inspected and
# checked (check_target: running, not in the host's network or pid namespace unless allowed), then
# the disk (check_disk), then the watchdog is armed. (A busy lock is not waited for before the
# inspect, so that a refused target never holds up the other runners of the host: the lock is then
# taken after the checks, and the listing and the gated start made under it then.) The count,
# still under the lock that was held across both the listing and the start, allows one more or
# refuses HOST_BUSY; no other runner can start a toolbox between. Only then is the gate opened.
# Why a started, gated toolbox is safe before the checks: it holds one process, the toolbox
# image's sh blocked reading the gate (TOOLBOX_SCRIPT's first line), with the tool's capabilities
# only (--cap-drop ALL), no-new-privileges, a read-only root, the session's limits; it runs no
# tool and reads nothing of the target until the gate opens, and the runner opens it only after
# the checks. It does join the target's network and pid namespaces before the target is verified
# (a refused host-network or host-pid target's are the host's), but only to wait there: what the
# target's processes could do to it then, they could as well to any tool of an accepted session
# (the kernel lets no process ptrace one holding capabilities it lacks). Every refusal (a refused target, a full disk or host, a cancel) is followed by the
# teardown, which awaits the background start and removes the session's containers before the
# runner reports; a runner killed with SIGKILL leaves no writer on the gate, so the toolbox ends
# unopened, and its stopped container goes at expiresAt (the watchdog, else the sweep's
# expires-at label). A target that is not running fails the start as well: check_target's verdict
# (CONTAINER_NOT_FOUND) comes first. A missing image fails the start, and then takes
# start_toolbox's way: pulled outside the lock, started (gated, then opened) once more after a
# fresh count under it.
start_toolbox_overlapped() {
  prepare_workdir
  refuse_if_ended
  # Before the lock: the follow loop lives as long as the capture, and holding the lock's descriptor
  # it would hold the lock as long. And before the gate, for the same reason (make_gate).
  if follow_on; then start_follow; fi
  tool_command
  toolbox_argv
  make_gate
  local locked=0 status=0
  if try_host_lock; then
    locked=1
    start_gated_toolbox
  fi
  check_target
  check_disk
  # Armed once the target passed; until then a refusal's teardown removes the gated toolbox, or,
  # should the runner be killed, the sweep does.
  start_watchdog
  if ((!locked)); then
    with_host_lock
    start_gated_toolbox
  fi
  check_capacity
  # Every check passed: the gate opens now, whether or not the docker run has returned yet (the line
  # waits in the pipe for the toolbox's read), so that the tool starts as soon as its container
  # does, as in a bare docker run. The lock is held until the run returned: another runner's count
  # then sees this toolbox running.
  open_gate
  wait "$TOOLBOX_RUN_PID" || status=$?
  TOOLBOX_RUN_PID=''
  release_host_lock
  if ((status == 0)); then
    TOOLBOX_STARTED=1
  else
    if image_present; then toolbox_start_failed; fi
    pull_then_start
  fi
  toolbox_started
}

# The gated toolbox's docker run -d and the session listing, both in the background, by a runner
# holding the host lock; the run first, as it is the longer (the listing is read only once the
# target's checks passed, and both ran under the lock whatever their order). The jobs close the
# lock's descriptor (only the runner holds the lock, and its end or release frees it) and the
# gate's (make_gate).
start_gated_toolbox() {
  CREATED_CONTAINERS=1
  (
    exec 8>&- 9>&-
    dk "${TOOLBOX_RUN[@]}" >/dev/null 2>"$WORK/run.err"
  ) &
  TOOLBOX_RUN_PID=$!
  start_session_listing
}

# A start at startAt (a plan's children start together). Everything that may fail or take time
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
  make_gate
  if ! dk "${TOOLBOX_RUN[@]}" >/dev/null 2>"$WORK/run.err"; then toolbox_start_failed; fi
  open_gate
  TOOLBOX_STARTED=1
  toolbox_started
  rm -f -- "$WORK/slot"
}

# The toolbox stops itself (timeout -s INT); if it has not after duration + grace, it is killed.
wait_for_toolbox() {
  local budget=$((P[durationSeconds] + READY_WAIT_SECONDS + STOP_GRACE_SECONDS)) status=0
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
  # Nothing the toolbox wrote is read while any of its processes could still change it: once docker
  # wait returns, the engine has deleted the toolbox's task (dockerd deletes it before it marks the
  # container stopped, which is what docker wait waits for), and with it every process of its cgroup:
  # with the target's pid namespace the runtime kills them all (containerd's shim on the main
  # process's exit, runc's delete), not only the main one. So the output guard lists /out now, before
  # the container is removed, and the removal runs beside the artifact's packaging and upload
  # (remove_toolbox_async, awaited by await_toolbox_removal before the manifest).
  check_toolbox_output toolbox
  local oom='' format
  # The OOM inspect (a docker call, 50-110 ms of every session's end) only when the toolbox's own
  # memory mark does not prove a clean end.
  if ! toolbox_end_clean; then
    log "the toolbox's memory mark does not prove a clean end: asking the engine whether it was OOM-killed"
    tmpl_to format .State.OOMKilled
    # Through a file and the read builtin, not $(...): one fork fewer.
    dk inspect --format "$format" "$CONTAINER" >"$WORK/oom" 2>/dev/null || true
    { read -r oom <"$WORK/oom"; } 2>/dev/null || true
  fi
  remove_toolbox_async
  if [[ $oom == true ]]; then
    fail CAPTURE_FAILED "The toolbox was killed at its memory limit (${P[memoryMb]} MiB); raise memoryMb."
  fi
  read_capture_clock
}

# True only when the toolbox ran its script to the end and its memory mark says no process of its
# cgroup was OOM-killed: docker wait saw status 0 (TOOLBOX_SCRIPT's last line; a container killed,
# by the runner or the kernel, ends 137), the runner did not kill it, and /out/oom, a regular file
# of one link in the output guard's listing, holds exactly "0 <limit>" with the limit this runner
# set (so the count is the toolbox's own cgroup's, not a parent's). The toolbox is untrusted: any
# other content, size or form, and the inspect decides.
toolbox_end_clean() {
  local code='' mark='' listed=${OUT_FILES[oom]-}
  ((!FORCED_KILL)) || return 1
  { read -r code <"$WORK/wait.out"; } 2>/dev/null || true
  [[ $code == 0 && $listed =~ ^([0-9]{1,2})\  ]] || return 1
  ((10#${BASH_REMATCH[1]} <= 32)) || return 1
  { IFS= read -r -n 32 mark <"$OUT/oom"; } 2>/dev/null || true
  [[ $mark =~ ^0\ ([0-9]{1,15})$ ]] || return 1
  ((10#${BASH_REMATCH[1]} == 10#${P[memoryMb]} * 1048576))
}

# The toolbox's removal, in the background: the artifact's packaging and upload need not wait for
# it. Started only once the output guard listed /out and the OOM inspect (if any) is done.
# await_toolbox_removal checks it before the run reports; teardown awaits it on every other way
# out, then removes the session's containers again when the run did not end OK.
remove_toolbox_async() {
  (
    exec 8>&- 9>&-
    dk rm -f "$CONTAINER" >/dev/null 2>"$WORK/rm.err"
  ) &
  REMOVE_PID=$!
}

await_toolbox_removal() {
  local status=0
  if [[ -z $REMOVE_PID ]]; then return 0; fi
  wait "$REMOVE_PID" || status=$?
  REMOVE_PID=''
  if ((status != 0)); then
    fail CAPTURE_FAILED "The toolbox container could not be removed: $(last_lines "$WORK/rm.err" 1)"
  fi
}

# The capture's own start and end, as the toolbox marked them (TOOLBOX_SCRIPT): the moment the tool
# was listening and the moment it ended, so the summary's capture time is the file's. Where a mark
# is missing (a toolbox killed early), the runner's own stamps stay. Both modification times as
# check_toolbox_output's find listed them (OUT_FILES: seconds.fraction, cut to milliseconds as
# date +%s%3N cuts them): no fork of its own.
read_capture_clock() {
  local name at
  for name in listening ended; do
    at=${OUT_FILES[$name]-}
    at=${at#* }
    if ! [[ $at =~ ^([0-9]+)\.([0-9]{3}) ]]; then continue; fi
    at=${BASH_REMATCH[1]}${BASH_REMATCH[2]}
    if [[ $name == listening ]]; then
      log "${P[tool]} was listening $((at - CAPTURE_STARTED_AT)) ms after its container started"
      CAPTURE_STARTED_AT=$at
    else
      CAPTURE_ENDED_AT=$at
    fi
  done
}

# The runner reads what the toolbox wrote under /out as root, on the host, so the toolbox must not
# be able to point it elsewhere: a symbolic link (to a host file, which would be uploaded or put in
# a message), a FIFO (a read that never ends), a device, a directory, or a hard link. Called once
# every process of the container that wrote /out is gone (docker wait returned, or a helper's
# foreground docker run --rm), so nothing can change the entries between this check and the reads
# that follow (find does not follow links: -P is its default). Names the first offender.
# The same find lists each regular file's size and modification time into OUT_FILES (name -> "size
# mtime"), for the reads that follow (read_capture_clock, collect_tool_result): one fork, not three
# (each costs ~3 ms of the session's end: BENCHMARKS.md, runner finish). One NUL-terminated record
# per entry, its name last: a name is the toolbox's to choose and may hold any byte but NUL and '/'.
check_toolbox_output() {
  local container=$1 found='' type links size at name
  if [[ -L $OUT || ! -d $OUT ]]; then
    fail CAPTURE_FAILED "The $container's output directory $OUT is not a directory: nothing of it is read."
  fi
  OUT_FILES=()
  # Into a file, not $(...), which would drop the NULs; a find that fails stops the runner (set -e).
  find "$OUT" -mindepth 1 -maxdepth 1 -printf '%y %n %s %T@ %P\0' >"$WORK/out-files"
  while IFS=' ' read -r -d '' type links size at name; do
    if [[ $type == f && $links == 1 ]]; then
      OUT_FILES[$name]="$size $at"
    elif [[ -z $found ]]; then
      found="$name (type $type, $links links)"
    fi
  done <"$WORK/out-files"
  if [[ -n $found ]]; then
    OUT_FILES=()
    fail CAPTURE_FAILED "The $container left /out/$(json_escape "$found") where the runner reads only regular files: a link or special file is never followed or read, and nothing of this capture is kept."
  fi
}

# The artifact's size as check_toolbox_output listed it, into ARTIFACT_BYTES; read by wc when it was
# rewritten since (join_ring) or not listed.
artifact_size() {
  local listed=${OUT_FILES[artifact]-}
  if [[ $listed =~ ^([0-9]+)\  ]]; then
    ARTIFACT_BYTES=${BASH_REMATCH[1]}
  else
    ARTIFACT_BYTES=$(wc -c <"$OUT/artifact")
  fi
}

# Reads the tool's status and messages; a stop that we caused is not a failure. The status file by
# the read builtin, its trailing newlines dropped as $(cat) drops them; the tool's last messages only
# for a failure (tool_messages): no forks on the path of every run.
collect_tool_result() {
  local raw=''
  artifact_size
  if ((ARTIFACT_BYTES >= P[maxBytes])); then
    TRUNCATED=true
    log "the artifact reached maxBytes (${P[maxBytes]}): the capture was cut there"
  fi
  { IFS= read -r -d '' raw <"$OUT/tool.status"; } 2>/dev/null || true
  while [[ $raw == *$'\n' ]]; do raw=${raw%$'\n'}; done
  if ! [[ $raw =~ ^[0-9]+$ ]] && ((FORCED_KILL)); then
    fail CAPTURE_FAILED "${P[tool]} did not stop within ${STOP_GRACE_SECONDS}s of the end of its ${P[durationSeconds]}s (it ignored SIGINT): the runner killed the toolbox, and its output is not kept. $(tool_messages)"
  fi
  if ! [[ $raw =~ ^[0-9]+$ ]]; then
    fail CAPTURE_FAILED "${P[tool]} did not finish (the toolbox was stopped from outside). $(tool_messages)"
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
    local message
    message=$(tool_messages)
    fail CAPTURE_FAILED "${P[tool]} failed with status $raw: ${message:-no message}"
  fi
  if [[ ${P[tool]} == tcpdump ]]; then read_tcpdump_stats; fi
}

# The tool's last 3 lines of stderr, on one line.
tool_messages() { last_lines "$OUT/tool.err" 3; }

read_tcpdump_stats() {
  local stats=''
  { IFS= read -r -d '' stats <"$OUT/tool.err"; } 2>/dev/null || true
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
  # It ran with --rm in the foreground: it is gone now.
  check_toolbox_output 'rewrite of the capture'
  if ((status != 0)) || [[ ! -s $OUT/artifact.clean ]]; then
    fail CAPTURE_FAILED "The capture was cut at maxBytes and could not be rewritten: $(last_lines "$OUT/finish.err" 2) $(last_lines "$WORK/finish.err" 2)"
  fi
  mv -f -- "$OUT/artifact.clean" "$OUT/artifact"
  # The output guard just listed the rewrite as artifact.clean: its size is the artifact's now.
  OUT_FILES[artifact]=${OUT_FILES[artifact.clean]-}
  artifact_size
  PACKETS=$(tr -dc 0-9 <"$OUT/packets")
  DROPPED=''
}
