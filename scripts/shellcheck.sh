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
echo "shellcheck.sh: ${#files[@]} scripts clean"
