# shellcheck shell=bash
# The watchdog: a process apart from the runner that removes the session's containers at expiresAt,
# even when the runner was killed.

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
    "$SESSION" "$((10#${P[expiresAt]}))" "$WORK" "$$") </dev/null >/dev/null 2>&1 3>&- 8>&- 9>&- &
  WATCHDOG_STARTED=1
  # Not waiting here for the watchdog to say its pid: it runs from the fork above on, in a session of
  # its own, whatever happens to the runner; only stopping it needs the pid (await_watchdog_pid), so
  # its start overlaps the toolbox's (BENCHMARKS.md, host start overhead).
  local until
  utc_hms until "$((10#${P[expiresAt]}))"
  log "watchdog armed for $until UTC"
}

# Up to 5 s for the watchdog this runner started to say its pid. It usually has long before (a few
# ms after its start); polled finely, as a 0.1 s step once cost every session ~95 ms.
await_watchdog_pid() {
  for _ in {1..500}; do
    if [[ -s $WORK/watchdog.pid ]]; then return 0; fi
    sleep 0.01
  done
}

# Stops this session's watchdog, after making sure the pid is still that watchdog. Both files are
# read by the read builtin (no forks at every run's end): the pid file's first line, and the
# command line's NUL-separated words joined by spaces.
stop_watchdog() {
  local pid='' cmdline='' word
  { read -r pid <"$WORK/watchdog.pid"; } 2>/dev/null || true
  if ! [[ $pid =~ ^[0-9]+$ && -r /proc/$pid/cmdline ]]; then return 1; fi
  while IFS= read -r -d '' word; do cmdline+="$word "; done 2>/dev/null <"/proc/$pid/cmdline" || true
  if [[ $cmdline != *debug-task-watchdog*"$SESSION"* ]]; then return 1; fi
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
}
