# shellcheck shell=bash
# The sweep's parts: expired watchdogs, containers and work dirs, and its report.

# Counts for the sweep's manifest, and the sessions it removed something of.
declare -A SWEPT=([containersRemoved]=0 [containersFailed]=0 [containersKept]=0 [watchdogsStopped]=0
  [workDirsRemoved]=0 [workDirsFailed]=0 [workDirsKept]=0)
declare -a SWEPT_SESSIONS=()

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

# Cleanups' end marks (mark_session_ended) once their session expired: nothing of it may start
# after that anyway. Not counted in the report: a mark is a few bytes, not something left running.
sweep_ended_marks() {
  local now=$1 mark expires
  for mark in "$WORK_ROOT"/dt-*"$ENDED_MARK_SUFFIX"; do
    if [[ ! -f $mark || -L $mark ]]; then continue; fi
    expires=$(head -c 12 -- "$mark" 2>/dev/null | tr -dc 0-9 || true)
    if [[ -z $expires ]] || ((10#$expires <= now)); then rm -f -- "$mark"; fi
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
