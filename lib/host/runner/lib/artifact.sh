# shellcheck shell=bash
# The artifact: packaged (gzip, sha256), uploaded from the host with retries, or kept on the host
# for a later re-upload.

# The gzip's path in the work dir, into the variable named $1 (tool_extension without a subshell).
artifact_gz_path() {
  local extension=txt
  if [[ ${P[tool]} == tcpdump ]]; then extension=pcap; fi
  printf -v "$1" '%s' "$WORK/artifact.$extension.gz"
}

package_artifact() {
  local artifact=$OUT/artifact gz
  artifact_gz_path gz
  # ARTIFACT_BYTES: set by collect_tool_result (artifact_size), and again by finish_artifact when it
  # rewrote the artifact (from the output guard's listing of the rewrite).
  # The capture's sha256 is taken beside its gzip rather than before it (two reads of the file at
  # once, the page cache serving the second), each sum read back by the builtin: the session's end
  # waits on this (BENCHMARKS.md, runner finish). HASH_PID: teardown stops it on an early exit.
  sha256sum <"$artifact" >"$WORK/artifact.sha256" 3>&- &
  HASH_PID=$!
  interruptible gzip -n -6 -c "$artifact" >"$gz"
  wait "$HASH_PID"
  HASH_PID=''
  read -r ARTIFACT_SHA _ <"$WORK/artifact.sha256"
  OBJECT_BYTES=$(wc -c <"$gz")
  sha256sum <"$gz" >"$WORK/object.sha256"
  read -r OBJECT_SHA _ <"$WORK/object.sha256"
  rm -f -- "$artifact"
  log "artifact: $ARTIFACT_BYTES bytes (sha256 $ARTIFACT_SHA), gzip $OBJECT_BYTES bytes"
}

deliver_artifact() {
  local gz
  artifact_gz_path gz
  if [[ -z ${P[uploadUrl]} ]]; then
    keep_artifact "$gz"
    log "no upload URL: the artifact is kept at $gz"
    STATUS=OK
    return 0
  fi
  if upload "$gz" "${P[uploadUrl]}"; then
    UPLOADED=true
    STATUS=OK
    log "uploaded to ${P[uploadUrl]%%\?*}" # redact_url, without a subshell
    return 0
  fi
  keep_artifact "$gz"
  fail UPLOAD_FAILED "The upload to $(redact_url "${P[uploadUrl]}") failed $UPLOAD_TRIES times ($(last_lines "$WORK/curl.err" 1)); the artifact is kept at $gz until $(utc_date "$KEEP_UNTIL")."
}

# PUTs file $1 to the presigned URL $2 (Content-Type $3 when given), from the host's own network:
# the task's security groups and egress rules are not ours to use. Tries UPLOAD_TRIES times, the
# pause doubling from 1 s; curl's last message goes to curl.err beside the file.
upload() {
  local file=$1 url=$2 type=${3-} attempt=1 delay=1 errors
  local -a headers=()
  errors=${file%/*}/curl.err
  if [[ -n $type ]]; then headers=(-H "Content-Type: $type"); fi
  while :; do
    if interruptible curl --fail -sS -X PUT -T "$file" ${headers[@]+"${headers[@]}"} -o /dev/null --connect-timeout 10 \
      --speed-limit 1024 --speed-time 30 "$url" 2>"$errors"; then
      return 0
    fi
    log "upload attempt $attempt of $UPLOAD_TRIES failed: $(last_lines "$errors" 1)"
    if ((attempt >= UPLOAD_TRIES)); then return 1; fi
    interruptible sleep "$delay"
    attempt=$((attempt + 1))
    delay=$((delay * 2))
  done
}

# The manifest ($MANIFEST) as a file: the work dir's manifest.json (kept beside a kept artifact), or
# a private temporary one when the run ended before it had a work dir; then, when a manifestUrl was
# given, PUT there with the artifact's retries. MANIFEST_UPLOADED says how that went. A manifest
# that cannot be put changes nothing of the run's status: the printed line carries it then.
deliver_manifest() {
  local file dir='' url=${P[manifestUrl]-}
  # A manifestUrl that failed its own check (the refusal this manifest may be reporting) is never used.
  if [[ -n $url ]] && ! valid_value manifestUrl "$url"; then url=''; fi
  if [[ -d $WORK && ! -L $WORK ]] && ((WORKDIR_CREATED || REUPLOAD_CLAIMED)); then
    file=$WORK/$MANIFEST_FILE
  else
    if [[ -z $url ]]; then return 0; fi
    dir=$(mktemp -d) || return 0
    file=$dir/$MANIFEST_FILE
  fi
  printf '%s\n' "$MANIFEST" >"$file"
  if [[ -n $url ]]; then
    if upload "$file" "$url" application/json; then
      MANIFEST_UPLOADED=true
      log "manifest put to $(redact_url "$url")"
    else
      MANIFEST_UPLOADED=false
      log "the manifest could not be put to $(redact_url "$url"): only the printed one tells this run's outcome"
    fi
  fi
  if [[ -n $dir ]]; then rm -rf -- "$dir"; fi
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
    ring_facts
  } >"$WORK/$FACTS_FILE"
  printf '%s\n' "$KEEP_UNTIL" >"$WORK/keep-until"
  KEEP_WORKDIR=1
}

kept_artifact_path() {
  local matches=("$WORK"/artifact.*.gz)
  if [[ -e ${matches[0]} ]]; then printf '%s' "${matches[0]}"; fi
}

kept_artifact_still_wanted() {
  local until
  until=$(tr -dc 0-9 <"$WORK/keep-until" 2>/dev/null || true)
  [[ -n $until && -n $(kept_artifact_path) ]] && (($(date +%s) < until))
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
        ring*) read_ring_fact "$key" "$value" ;;
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
