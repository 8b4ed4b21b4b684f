# shellcheck shell=bash
# --follow (lib/domain/follow.ts): while the tool runs, what it has written so far goes up every
# followSeconds as the next chunk (chunks/<seq> under the child's prefix, by the presigned POST of
# chunkUrl), so the CLI can stream the capture. The artifact stays the one verified truth: a chunk
# that cannot be uploaded is logged and skipped (the CLI completes its stream from the artifact),
# never a reason to stop the capture.
#
# The chunks are read from the runner's own file: the runner creates $OUT/artifact and opens it
# before the toolbox exists, and the toolbox's shell writes into that same file (its `>` truncates
# the file, it does not replace it). So the loop reads only bytes of the file the runner made,
# whatever the toolbox does to the name later (a link planted there is never opened).

# A plan's children's chunk forms ('' for a child that is not followed), by line (plan.sh).
declare -a SHARE_CHUNK_URLS=()
# What the loop needs and what it reported.
FOLLOW_PID=''
FOLLOW_FD=''
FOLLOW_CHUNKS=''
FOLLOW_FAILED=''
FOLLOW_BYTES=''
# The chunk form: where it goes, the key prefix, the other fields as curl words.
FORM_URL=''
FORM_KEY=''
FORM_ARGS=()
# The longest the runner waits for the loop's last chunks once the tool has stopped.
readonly FOLLOW_FINISH_SECONDS=60
# Tries per chunk: a later chunk matters more than an old one, so few and short.
readonly CHUNK_TRIES=3

follow_on() { [[ -n ${P[chunkUrl]-} ]]; }

# The chunk form, from chunkUrl (encodeChunkForm): the endpoint, then each field of the query,
# percent-decoded. Only the fields the form has (CHUNK_FORM_FIELDS); the key must be this child's
# chunks prefix. The values reach curl as --form-string words (never read as @file or <file).
read_chunk_form() {
  local url=${P[chunkUrl]} pair name value
  local -a pairs=()
  if ring_on; then fail INVALID_ARGUMENT 'A ring buffer cannot be followed (chunkUrl): its files are rewritten as it turns.'; fi
  if [[ $url != *\?* ]]; then fail INVALID_ARGUMENT 'chunkUrl holds no form fields (it has no query).'; fi
  FORM_URL=${url%%\?*}
  IFS='&' read -r -a pairs <<<"${url#*\?}"
  FORM_ARGS=()
  for pair in "${pairs[@]}"; do
    name=${pair%%=*} value=${pair#*=}
    if [[ $pair != *=* || $CHUNK_FORM_FIELDS != *" $name "* ]]; then
      fail INVALID_ARGUMENT "chunkUrl holds a field the chunk form does not have: \"${name:0:40}\"."
    fi
    # %XX -> \xXX -> the byte (the URL pattern admits no backslash, so no other escape is read).
    printf -v value '%b' "${value//%/\\x}"
    if [[ $name == key ]]; then FORM_KEY=$value; else FORM_ARGS+=(--form-string "$name=$value"); fi
  done
  if ! [[ $FORM_KEY =~ ^[A-Za-z0-9._/-]+$ && $FORM_KEY == */"$SESSION"/chunks/ ]]; then
    fail INVALID_ARGUMENT "chunkUrl's key \"${FORM_KEY:0:120}\" is not the chunks prefix of $SESSION (.../$SESSION/chunks/)."
  fi
}

# Before the toolbox starts: the artifact file made and opened here, the loop started with it.
start_follow() {
  mkdir -m 0700 -- "$WORK/follow"
  : >"$OUT/artifact"
  exec {FOLLOW_FD}<"$OUT/artifact"
  follow_loop "$$" </dev/null 3>&- &
  FOLLOW_PID=$!
  # The loop has its own copy of the descriptor: its offset is where the next chunk starts.
  exec {FOLLOW_FD}<&-
  log "following: a chunk every ${P[followSeconds]}s to $(redact_url "$FORM_URL")"
}

# The loop (a subshell of the runner): every followSeconds, the bytes written since the last chunk,
# in chunks of at most FOLLOW_CHUNK_MAX_BYTES. On $WORK/follow/last (the tool has stopped) it sends
# what is left and ends; it ends too when the runner is gone (killed: nothing outlives it by more
# than a fifth of a second), and on SIGTERM (teardown), stopping its upload.
follow_loop() {
  local runner=$1 seq=0 failed=0 bytes=0 taken final=0 slice slices=$((P[followSeconds] * 5)) pause
  local chunk=$WORK/follow/chunk
  trap - ERR EXIT
  set +eE
  trap 'if [[ -n $CHILD_PID ]]; then kill -TERM "$CHILD_PID" 2>/dev/null; fi; exit 0' TERM INT HUP
  # A pause without a process: read with a timeout on a pipe that never delivers.
  exec {pause}<> <(:)
  while ((!final)); do
    for ((slice = 0; slice < slices; slice++)); do
      if [[ -e $WORK/follow/last ]]; then
        final=1
        break
      fi
      if ! kill -0 "$runner" 2>/dev/null; then exit 0; fi
      read -r -t 0.2 -u "$pause" _
    done
    while :; do
      head -c "$FOLLOW_CHUNK_MAX_BYTES" <&"$FOLLOW_FD" >"$chunk"
      taken=$(wc -c <"$chunk")
      if ((taken == 0)); then break; fi
      bytes=$((bytes + taken))
      if ! send_chunk "$chunk" "$seq" "$pause"; then failed=$((failed + 1)); fi
      seq=$((seq + 1))
      if ((taken < FOLLOW_CHUNK_MAX_BYTES)); then break; fi
    done
    printf 'chunks=%s failed=%s bytes=%s\n' "$((seq - failed))" "$failed" "$bytes" >"$WORK/follow/state.new"
    mv -f -- "$WORK/follow/state.new" "$WORK/follow/state"
  done
}

# POSTs chunk file $1 as sequence $2 (CHUNK_TRIES tries, pausing on descriptor $3 between them).
send_chunk() {
  local file=$1 key attempt
  printf -v key '%s%0*d' "$FORM_KEY" "$CHUNK_SEQ_DIGITS" "$2"
  for ((attempt = 1; attempt <= CHUNK_TRIES; attempt++)); do
    if interruptible curl --fail -sS -o /dev/null --connect-timeout 5 --max-time 30 \
      --form-string "key=$key" "${FORM_ARGS[@]}" -F "file=@$file;type=application/octet-stream" \
      "$FORM_URL" 2>"$WORK/follow/curl.err"; then
      return 0
    fi
    if ((attempt < CHUNK_TRIES)); then read -r -t "$attempt" -u "$3" _; fi
  done
  log "chunk $2 could not be uploaded ($(last_lines "$WORK/follow/curl.err" 1)): the followed stream has a gap there, which the artifact fills at the end"
  return 1
}

# Once the tool has stopped (its container gone): the loop sends what is left and ends, within
# FOLLOW_FINISH_SECONDS; past that it is stopped, and the chunks it did not send are gaps.
finish_follow() {
  local tenths=0 key value
  local -a facts=()
  : >"$WORK/follow/last"
  while kill -0 "$FOLLOW_PID" 2>/dev/null && ((tenths < FOLLOW_FINISH_SECONDS * 10)); do
    interruptible sleep 0.1
    tenths=$((tenths + 1))
  done
  if kill -0 "$FOLLOW_PID" 2>/dev/null; then
    log "the last chunks were not sent within ${FOLLOW_FINISH_SECONDS}s: the artifact has them"
    stop_follow
  fi
  wait "$FOLLOW_PID" 2>/dev/null || true
  FOLLOW_PID=''
  FOLLOW_CHUNKS=0 FOLLOW_FAILED=0 FOLLOW_BYTES=0
  if [[ -f $WORK/follow/state ]]; then
    read -r -a facts <"$WORK/follow/state" || true
    for value in "${facts[@]}"; do
      key=${value%%=*} value=${value#*=}
      if ! [[ $value =~ ^[0-9]{1,15}$ ]]; then continue; fi
      case $key in
        chunks) FOLLOW_CHUNKS=$value ;;
        failed) FOLLOW_FAILED=$value ;;
        bytes) FOLLOW_BYTES=$value ;;
      esac
    done
  fi
  log "followed: $FOLLOW_CHUNKS chunk(s), $FOLLOW_BYTES bytes, $FOLLOW_FAILED failed"
}

# Teardown (every exit of a run): the loop stopped, with the upload it is in.
stop_follow() {
  if [[ -n $FOLLOW_PID ]]; then kill -TERM "$FOLLOW_PID" 2>/dev/null || true; fi
}

# The manifest's "follow" (FollowFacts), once the loop has ended.
follow_json() {
  if [[ -z $FOLLOW_CHUNKS ]]; then return 0; fi
  printf ',"follow":{"chunks":%s,"failedChunks":%s,"bytes":%s,"intervalSeconds":%s}' \
    "$FOLLOW_CHUNKS" "$FOLLOW_FAILED" "$FOLLOW_BYTES" "${P[followSeconds]}"
}
