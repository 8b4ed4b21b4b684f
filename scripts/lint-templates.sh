#!/usr/bin/env bash
# Offline checks of every template the project synthesizes, without credentials or network:
#
#   1. cdk synth of the app with the testbed (-c testbed=true): cdk-nag and the AWS Guard rules run
#      as validation plugins inside it (bin/app.ts), so an unacknowledged finding fails here;
#   2. cfn-lint on DebugTask, DebugTaskTestbed and every template of the integration test's
#      committed snapshot (test/integ/*.snapshot; its Guard check runs in `npm run integ:check`);
#   3. asl-validator on the state machine definition of DebugTask and of the snapshot's DebugTaskInteg.
#
# Usage:  bash scripts/lint-templates.sh        (npm run lint:templates)
# Needs:  cfn-lint (pip install cfn-lint), the project's node_modules.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v cfn-lint >/dev/null; then
  echo "lint-templates.sh: cfn-lint is not installed (pip install cfn-lint)" >&2
  exit 2
fi

out=$(mktemp -d)
trap 'rm -rf -- "$out"' EXIT

echo "lint-templates: cdk synth (cdk-nag and Guard rules run inside it)"
# No credentials, no profile, no instance metadata: a synth that tried to reach AWS would fail here.
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_PROFILE \
  AWS_REGION=xx-ci-1 AWS_EC2_METADATA_DISABLED=true \
  npx --no-install cdk synth --quiet -c testbed=true -o "$out/assembly" >"$out/synth.log" 2>&1 || {
  cat "$out/synth.log" >&2
  exit 1
}

templates=("$out/assembly/DebugTask.template.json" "$out/assembly/DebugTaskTestbed.template.json")
shopt -s nullglob
snapshot_templates=(test/integ/*.snapshot/*.template.json)
templates+=("${snapshot_templates[@]}")

echo "lint-templates: cfn-lint on ${#templates[@]} templates (settings and accepted warnings: .cfnlintrc)"
ours=()
assertions=()
for template in "${templates[@]}"; do
  if [[ $(basename "$template") == *DeployAssert* ]]; then assertions+=("$template"); else ours+=("$template"); fi
done
cfn-lint -- "${ours[@]}"
if [[ ${#assertions[@]} -gt 0 ]]; then cfn-lint --ignore-checks W3005 W3037 -- "${assertions[@]}"; fi

machines=("$out/assembly/DebugTask.template.json")
for template in "${snapshot_templates[@]}"; do
  if [[ $(basename "$template") == DebugTaskInteg.template.json ]]; then machines+=("$template"); fi
done
for template in "${machines[@]}"; do
  definition="$out/$(basename "$template" .template.json).asl.json"
  npx --no-install tsx scripts/state-machine-definition.ts "$template" >"$definition"
  npx --no-install asl-validator --json-path "$definition"
done
echo "lint-templates: ${#templates[@]} templates clean (cfn-lint), ${#machines[@]} state machines valid (asl-validator)"
