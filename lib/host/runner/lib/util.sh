# shellcheck shell=bash
# Small helpers: logging, clocks, process start times, docker and curl wrappers, the host lock.

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

# Opens the host lock's file on descriptor 9 (the lock itself is taken by flock on it); false,
# opening nothing, where flock is missing: there is then no lock to take.
open_host_lock() {
  if ! command -v flock >/dev/null; then return 1; fi
  exec 9>"$WORK_ROOT/.lock" || fail CAPTURE_FAILED "The host lock $WORK_ROOT/.lock could not be opened."
}

with_host_lock() {
  if open_host_lock; then
    flock -w 30 9 || log "could not take $WORK_ROOT/.lock within 30s; going on without it"
  fi
}

# The host lock if it is free at once (no wait); fails, holding nothing, when another runner has it.
# Without flock there is no lock to take, as for with_host_lock: that counts as taken.
try_host_lock() {
  if ! open_host_lock; then return 0; fi
  if flock -n 9; then return 0; fi
  exec 9>&-
  return 1
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

# UTC date of the Unix time $1, for messages.
utc_date() { date -u -d "@$1" '+%Y-%m-%dT%H:%M:%SZ' 2>/dev/null || printf '%s' "$1"; }
