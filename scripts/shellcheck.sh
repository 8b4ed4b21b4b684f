#!/usr/bin/env bash
# Runs shellcheck on every shell script of the project; exits non-zero on any finding.
#
# Checks the host runner as built from its parts under lib/host/runner/ (with the generated block
# that lib/host/runner-script.ts inserts, i.e. what hosts run), .ci/run and scripts/*.sh. The parts
# are checked in the built file: alone, each reads variables another one declares.
#
# Usage:  bash scripts/shellcheck.sh
# Needs:  shellcheck (apt-get install shellcheck), node with the project's dependencies (npx tsx).
set -euo pipefail
export LC_ALL=C
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v shellcheck >/dev/null; then
  echo "shellcheck.sh: shellcheck is not installed (apt-get install shellcheck)" >&2
  exit 2
fi

built_dir=$(mktemp -d)
trap 'rm -rf -- "$built_dir"' EXIT
built=$built_dir/runner.built.sh
npx --no-install tsx -e \
  "process.stdout.write(require('./lib/host/runner-script').buildRunnerScript())" >"$built"

files=("$built")
if [[ -f .ci/run ]]; then files+=(.ci/run); fi
for script in scripts/*.sh; do
  if [[ -f $script ]]; then files+=("$script"); fi
done

shellcheck --shell=bash --severity=style "${files[@]}"

# The scripts the runner hands to the toolbox's /bin/sh (dash, busybox), held in the built file as
# readonly NAME_SCRIPT='...': each is written out as the toolbox gets it and checked as POSIX sh.
toolbox_scripts=0
while IFS= read -r name; do
  bash -c "$(sed -n "/^readonly $name='/,/^'\$/p" "$built")"'; printf "%s" "${!1}"' _ "$name" >"$built_dir/$name.sh"
  shellcheck --shell=sh --severity=style "$built_dir/$name.sh"
  toolbox_scripts=$((toolbox_scripts + 1))
done < <(sed -n "s/^readonly \([A-Z_]*_SCRIPT\)='$/\1/p" "$built")
if ((toolbox_scripts == 0)); then
  echo "shellcheck.sh: no toolbox script found in the built runner" >&2
  exit 1
fi
echo "shellcheck.sh: ${#files[@]} scripts and $toolbox_scripts toolbox scripts clean"
