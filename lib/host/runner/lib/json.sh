# shellcheck shell=bash
# JSON written and read without jq (the hosts have none): escaping for the manifest, and the few
# string fields read from AWS answers.

json_escape() {
  local escaped
  json_escape_to escaped "$1"
  printf '%s' "$escaped"
}

# The same into the variable named $1: no subshell (the manifest, written at every run's end, used
# ~35 of them: BENCHMARKS.md, runner finish).
json_escape_to() {
  local _json_s=$2
  _json_s=${_json_s//\\/\\\\}
  _json_s=${_json_s//\"/\\\"}
  _json_s=${_json_s//$'\n'/\\n}
  _json_s=${_json_s//$'\r'/\\r}
  _json_s=${_json_s//$'\t'/\\t}
  _json_s=${_json_s//[$'\001'-$'\037'$'\177']/ }
  _json_s=${_json_s//[$'\200'-$'\377']/?} # the manifest stays ASCII whatever bytes a tool printed
  printf -v "$1" '%s' "$_json_s"
}

# Prints the JSON string of $1; called directly (not in $(...)) where the output is being written.
json_str() {
  local escaped
  json_escape_to escaped "$1"
  printf '"%s"' "$escaped"
}

# A JSON number from a count the runner read (a tool's output, wc), or null when it is not one.
json_num() {
  if [[ $1 =~ ^(0|[1-9][0-9]*)$ ]]; then printf '%s' "$1"; else printf 'null'; fi
}

# The string value of "key" in a small flat JSON object (no jq on the hosts). Values with escaped
# quotes are cut at the first one, which is enough for what is read here (tokens, ids, messages).
json_field() {
  local re='"'"$1"'"[[:space:]]*:[[:space:]]*"([^"]*)"'
  if [[ $2 =~ $re ]]; then printf '%s' "${BASH_REMATCH[1]}"; fi
}

# "<__type>: <message>" of an AWS JSON error body, without the namespace of the type.
aws_error() {
  local type message
  type=$(json_field __type "$1") message=$(json_field message "$1")
  if [[ -z $message ]]; then message=$(json_field Message "$1"); fi
  type=${type##*#}
  printf '%s' "${type:-error}${message:+: ${message:0:300}}"
}
