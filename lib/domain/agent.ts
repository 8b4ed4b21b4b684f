/**
 * Which SSM agents run our document, and how parameters reach the runner on each (issue 17).
 *
 * The document is schema 2.2 with one `aws:runShellScript` step and a step-level `precondition`.
 * The agent's release notes (aws/amazon-ssm-agent RELEASENOTES.md) date what that needs:
 * 2.0.767.0 "Added Document v2.0 support for Run Command", 2.0.790.0 "Added support for step-level
 * preconditions". Below 2.0.790.0 the document cannot run; from there on it runs in `text` mode.
 *
 * `interpolationType: ENV_VAR` (values as the environment variables SSM_<name>, never in the
 * script's text) needs 3.3.2746.0 or later (AWS Systems Manager user guide, "Troubleshooting
 * parameter handling issues": "Verify SSM Agent version is 3.3.2746.0 or later"). Older agents
 * ignore it and substitute `{{ name }}` references textually; the document's bootstrap then takes
 * each value inside single quotes (lib/host/runner-script.ts), which every allowedPattern makes
 * safe. The runner's manifest records the mode that ran (`paramMode`).
 */

/** The oldest agent that runs our document (step-level preconditions of schema 2.x). */
export const MIN_AGENT_VERSION = '2.0.790.0';

/** The first agent that passes ENV_VAR parameters as SSM_<name>. */
export const ENV_VAR_AGENT_VERSION = '3.3.2746.0';

/** Compares dotted version numbers numerically: <0, 0, >0. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map((p) => Number.parseInt(p, 10) || 0);
  const pb = b.split('.').map((p) => Number.parseInt(p, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const diff = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (diff !== 0) return Math.sign(diff);
  }
  return 0;
}

/** How an agent of that version passes the parameters: `env` (ENV_VAR) or `text`. */
export function paramModeOf(agentVersion: string): 'env' | 'text' {
  return compareVersions(agentVersion, ENV_VAR_AGENT_VERSION) >= 0 ? 'env' : 'text';
}
