# shellcheck shell=bash
# JSON written and read without jq (the hosts have none): escaping for the manifest, and the few
# string fields read from AWS answers.

json_escape() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}
  s=${s//$'\r'/\\r}
  s=${s//$'\t'/\\t}
  s=${s//[$'\001'-$'\037'$'\177']/ }
  s=${s//[$'\200'-$'\377']/?} # the manifest stays ASCII whatever bytes a tool printed
  printf '%s' "$s"
}

json_str() { printf '"%s"' "$(json_escape "$1")"; }

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
