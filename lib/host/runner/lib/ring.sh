# shellcheck shell=bash
# The ring buffer (ringSeconds or ringBytes, tcpdump only): the capture runs until it is stopped or
# its duration ends, and keeps only its most recent window. tcpdump rotates its files (-G, -C), a
# pruner in the toolbox removes the oldest (RING_SCRIPT), and the runner joins what is left.

# /debug-task/ring.sh: a time ring's pruning, in the toolbox (arguments: loop|once, the window in
# seconds, the bound in bytes). Files are ring-<start>.<n> (tcpdump -G/-C; the first of a period has
# no n). Newest first, it keeps the file being written, then older files while they are within the
# window (their last packet, the file's mtime, is at most `window` seconds old) and the bytes kept
# are below the bound; the first file it does not keep goes with every older one, so what stays is
# one unbroken stretch: at least the window (when the traffic fills it), at most one file more.
# Counts the files removed in /out/rotated. `loop` prunes every 0.2 s until it is killed. A pass
# costs the same few processes however many files there are (one stat for all of them, one rm):
# under a flood tcpdump starts dozens of files a second and the pruner shares the toolbox's CPU cap
# with it (a process per file and a second between passes let a 16 MB ring reach 143 MB).
# shellcheck disable=SC2016 # expanded by the toolbox's shell, not here
readonly RING_SCRIPT='
mode=$1 window=$2 bound=$3
prune() {
  now=$(date +%s) total=0 drop="" first=1 gone="" removed=0
  list=$(stat -c "%n %s %Y" /out/ring-* 2>/dev/null |
    sed "s/^\([^ ]*\)\. /\1 0 /; s/^\([^ ]*\)\.\([0-9][0-9]*\) /\1 \2 /" | sort -k1,1r -k2,2nr)
  while read -r name count size mtime; do
    if [ -z "$name" ]; then continue; fi
    file=$name.$count
    if [ "$count" = 0 ]; then file=$name.; fi
    if [ -z "$drop" ] && [ -z "$first" ] && [ "$window" -gt 0 ] && [ "$mtime" -lt $((now - window)) ]; then
      drop=1
    fi
    if [ -n "$drop" ]; then
      gone="$gone $file"
      removed=$((removed + 1))
      continue
    fi
    first=""
    total=$((total + size))
    if [ "$total" -ge "$bound" ]; then drop=1; fi
  done <<LIST
$list
LIST
  if [ "$removed" -gt 0 ]; then
    # shellcheck disable=SC2086 # names of our own pattern, one word each
    rm -f $gone
    echo $(($(cat /out/rotated 2>/dev/null || echo 0) + removed)) >/out/rotated.new && mv /out/rotated.new /out/rotated
  fi
}
if [ "$mode" = once ]; then prune; exit 0; fi
while :; do sleep 0.2; prune; done
'

ring_on() { [[ -n ${P[ringSeconds]-}${P[ringBytes]-} ]]; }

# The ring's shape. A ring of a size is tcpdump's own: -C files of RING_FILE_MB (an eighth of the
# size, whole megabytes: -C's unit) and -W RING_FILES_KEPT of them, overwritten in turn, so the disk
# holds the size plus one file at most, whatever the traffic. A ring of a time has tcpdump start a
# file every RING_CHUNK_SECONDS (-G: a tenth of the window, 1 to 60 s), also at RING_FILE_MB (an
# eighth of maxBytes), and the toolbox's pruner (RING_SCRIPT) removes the files older than the
# window, and the oldest beyond maxBytes (RING_BOUND_BYTES): a time ring under a flood is bounded too.
ring_settings() {
  RING_WINDOW_SECONDS=$((10#${P[ringSeconds]:-0}))
  RING_BOUND_BYTES=$((10#${P[ringBytes]:-${P[maxBytes]}}))
  RING_FILE_MB=$((RING_BOUND_BYTES / 8000000))
  if ((RING_FILE_MB < 1)); then RING_FILE_MB=1; fi
  if ((RING_WINDOW_SECONDS == 0)); then
    RING_FILES_KEPT=$((RING_BOUND_BYTES / (RING_FILE_MB * 1000000) + 1))
    RING_TCPDUMP_ARGS=(-w /out/ring- -C "$RING_FILE_MB" -W "$RING_FILES_KEPT")
    return 0
  fi
  RING_CHUNK_SECONDS=$(((RING_WINDOW_SECONDS + 9) / 10))
  if ((RING_CHUNK_SECONDS > 60)); then RING_CHUNK_SECONDS=60; fi
  RING_TCPDUMP_ARGS=(-w '/out/ring-%s.' -G "$RING_CHUNK_SECONDS" -C "$RING_FILE_MB")
}

# The ring's files, oldest first, into RING_FILES: by their last write (what tcpdump last wrote to
# them), which orders both kinds of ring (a size ring's names go round; a time ring's start times).
ring_files() {
  local name
  RING_FILES=()
  while IFS= read -r name; do
    name=${name#* }
    if [[ $name =~ ^ring-[0-9]{1,12}(\.[0-9]{0,9})?$ ]]; then RING_FILES+=("$name"); fi
  done < <(find "$OUT" -mindepth 1 -maxdepth 1 -type f -name 'ring-*' -printf '%T@ %f\n' | sort -n)
}

# One pcap of the files the ring kept, oldest first: the first whole, the others without their
# 24-byte file header (the same tcpdump wrote them all: one link type, one snaplen; a header that
# differs is refused; od, not cmp: diffutils is not on every host). Replaces $OUT/artifact (empty: tcpdump wrote files, not its stdout). Reads the
# span kept (the first packet's time) and what was rotated out. Called once the toolbox is gone.
join_ring() {
  ring_files
  RING_ROTATED=$(tr -dc 0-9 <"$OUT/rotated" 2>/dev/null || true)
  RING_ROTATED=$((10#${RING_ROTATED:-0}))
  # A size ring that filled all its files has gone round (tcpdump overwrote the oldest): how often,
  # it does not say.
  if ((RING_WINDOW_SECONDS == 0 && ${#RING_FILES[@]} >= RING_FILES_KEPT)); then RING_WRAPPED=true; fi
  if ((RING_ROTATED > 0)); then RING_WRAPPED=true; fi
  if ((${#RING_FILES[@]} == 0)); then
    fail CAPTURE_FAILED "The ring buffer left no file: tcpdump wrote nothing to /out ($(last_lines "$OUT/tool.err" 2))."
  fi
  local first=$OUT/${RING_FILES[0]} name header
  header=$(od -An -tx1 -N24 -- "$first")
  {
    cat -- "$first"
    for name in "${RING_FILES[@]:1}"; do
      if [[ $(od -An -tx1 -N24 -- "$OUT/$name") != "$header" ]]; then
        fail CAPTURE_FAILED "The ring's file $name does not start as $(basename "$first") does (another link type or snaplen): the files are not one capture."
      fi
      tail -c +25 -- "$OUT/$name"
    done
  } >"$OUT/artifact"
  unset 'OUT_FILES[artifact]' # rewritten: artifact_size counts it again
  for name in "${RING_FILES[@]}"; do rm -f -- "${OUT:?}/$name"; done
  RING_FIRST_PACKET_AT=$(pcap_first_packet_ms "$OUT/artifact")
  log "ring: kept ${#RING_FILES[@]} file(s), $(wc -c <"$OUT/artifact") bytes; $RING_ROTATED older file(s) rotated out"
}

# The time of the first packet of pcap $1 (Unix ms), or '' (no packet, or not a little-endian
# microsecond pcap, which is what tcpdump writes on the hosts we run on).
pcap_first_packet_ms() {
  local magic seconds micros
  magic=$(od -An -tx4 -N4 -- "$1" 2>/dev/null | tr -d ' ')
  read -r seconds micros < <(od -An -tu4 -j24 -N8 -- "$1" 2>/dev/null) || true
  if [[ $magic == a1b2c3d4 && $seconds =~ ^[0-9]+$ && $micros =~ ^[0-9]+$ ]]; then
    printf '%s' $((seconds * 1000 + micros / 1000))
  fi
}

# tcpdump's count is of every packet it captured; once the ring went round the artifact holds
# fewer: that count moves to the ring's capturedPackets, and packets (the artifact's) is unknown.
ring_packets() {
  if [[ $RING_WRAPPED == true ]]; then
    RING_CAPTURED=$PACKETS
    PACKETS=''
  fi
}

# A kept artifact's ring (keep_artifact's facts), so that its re-upload reports the same window.
ring_facts() {
  if ! ring_on; then return 0; fi
  printf 'ringWindowSeconds=%s\nringBoundBytes=%s\nringWrapped=%s\n' "$RING_WINDOW_SECONDS" "$RING_BOUND_BYTES" "$RING_WRAPPED"
  printf 'ringRotated=%s\nringFirstPacketAt=%s\nringCaptured=%s\n' "$RING_ROTATED" "$RING_FIRST_PACKET_AT" "$RING_CAPTURED"
}

# One ring fact of a kept artifact (read as data: digits or true/false only, as ring_facts wrote them).
read_ring_fact() {
  case $1 in
    ringWindowSeconds) if [[ $2 =~ ^[0-9]{1,5}$ ]]; then RING_WINDOW_SECONDS=$((10#$2)) RING_KEPT=true; fi ;;
    ringBoundBytes) if [[ $2 =~ ^[0-9]{1,12}$ ]]; then RING_BOUND_BYTES=$((10#$2)); fi ;;
    ringWrapped) if [[ $2 == true ]]; then RING_WRAPPED=true; fi ;;
    ringRotated) if [[ $2 =~ ^[0-9]{1,9}$ ]]; then RING_ROTATED=$2; fi ;;
    ringFirstPacketAt) if [[ $2 =~ ^[0-9]{1,15}$ ]]; then RING_FIRST_PACKET_AT=$2; fi ;;
    ringCaptured) if [[ $2 =~ ^[0-9]{1,15}$ ]]; then RING_CAPTURED=$2; fi ;;
  esac
}

# The manifest's "ring": its window, whether it went round (older packets were dropped), the files a
# time ring rotated out, the first packet kept, and tcpdump's count of all it captured.
ring_json() {
  if ! ring_on && [[ $RING_KEPT != true ]]; then return 0; fi
  printf ',"ring":{'
  if ((RING_WINDOW_SECONDS)); then printf '"windowSeconds":%s' "$RING_WINDOW_SECONDS"; else printf '"windowBytes":%s' "$RING_BOUND_BYTES"; fi
  printf ',"wrapped":%s' "$RING_WRAPPED"
  if ((RING_WINDOW_SECONDS)); then
    printf ',"rotatedOut":'
    json_num "$RING_ROTATED"
  fi
  if [[ -n $RING_FIRST_PACKET_AT ]]; then printf ',"firstPacketAt":%s' "$RING_FIRST_PACKET_AT"; fi
  if [[ -n $RING_CAPTURED ]]; then
    printf ',"capturedPackets":'
    json_num "$RING_CAPTURED"
  fi
  printf '}'
}
