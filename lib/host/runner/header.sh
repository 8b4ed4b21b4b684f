#!/bin/bash
# debug-task host runner: debug sessions next to containers of this host, run as root by SSM Run
# Command. This file is built by lib/host/runner-script.ts from the parts under lib/host/runner/
# (this header, the generated block, lib/*.sh, actions/*.sh, main.sh, in that order): edit those.
#
# action=plan (sessionId = the session's id, planUrl, the session's parameters but containerId)
#   This host's share of a session's plan (lib/domain/host-plan.ts; every session is a plan, a single
#   task's a plan of one): fetches the plan, keeps the lines of $AWS_SSM_INSTANCE_ID (set by the
#   SSM agent), checks every field, then runs each line as one child `run` (this script again,
#   sessionId/containerId/uploadUrl/manifestUrl from the line), all at once; waits for all and
#   prints a short HostSummary (lib/domain/host-summary.ts). A signal stops every child (each
#   removes what it started) before the summary.
# action=run
#   One capture. Checks the target container (and, when that fails, the Docker engine; one in the
#   host's network mode or pid namespace is refused unless allowHostNetwork/allowHostPid=true),
#   free disk, the host's session count (under a host lock, right before the start); pulls the
#   toolbox image if it is missing (learnt from a failed start); compiles the BPF filter; starts a
#   time-boxed, resource-limited toolbox container in the target's network and pid namespaces with
#   the tool's capabilities only; caps the artifact's size; reads what the toolbox wrote only once
#   it is gone and never through a link; compresses, hashes and uploads it from the host (never
#   from inside the task's network namespace); writes its manifest (RunnerManifest) next to it and
#   puts it at manifestUrl, after the artifact; removes everything it started, on every exit path.
#   startAt (unix s, optional): every check and preparation (target, image, filter, a slot of the
#   host's maxSessions, claimed under the host lock) comes first; the toolbox then starts at
#   startAt, or at once (logging how late) when it has passed. The duration counts from the start.
# action=cleanup
#   Removes whatever is left of a session: its containers, its watchdog, its work dir (an artifact
#   kept after a failed upload stays until its keep-until: expiresAt or the failure, + 24 h). A
#   session's id also stops its plan's runner and its children's and removes every child
#   <id>-NNNN the same way.
# action=stop
#   Ends a session's captures on this host now and keeps them (cleanup is the one that discards):
#   each capture (a session's id covers its children <id>-NNNN) gets a stop marker in its work dir
#   and its tool the signal it gets at the end of its duration; its own runner then uploads it as
#   usual and its manifest says "stoppedEarly" (timings.stoppedAt). A capture still starting stops
#   as soon as its toolbox runs. Returns at once: the captures' runners do the rest.
# action=reupload
#   With planUrl: the session's re-upload plan (containerId "-"), one child per line of this host.
#   Each child (or one child alone, given uploadUrl and manifestUrl) uploads the artifact a failed
#   upload left on the host (see keep_artifact) with the same retries, then puts its manifest and
#   removes its work dir. Starts no container. No kept artifact: ARTIFACT_NOT_ON_HOST.
# action=sweep (no session; sent on a schedule)
#   Removes every container of the host labelled debug-task.session whose debug-task.expires-at
#   has passed, stops the watchdogs of expired sessions, and removes the work dirs of expired
#   sessions whose runner is gone (a kept artifact once past its keep-until). Leaves the rest.
#
# Usage:  SSM_sessionId=dt-... SSM_containerId=<docker id> SSM_tool=tcpdump ... bash runner.sh
#         Every parameter arrives as the environment variable SSM_<name> (the SSM document uses
#         interpolationType ENV_VAR); lib/domain/params.ts defines them. SSM requires only
#         executionTimeout (action defaults to run); the runner requires what its action needs
#         (plan: the session's parameters and planUrl; run: those and containerId; cleanup:
#         sessionId; reupload: sessionId and planUrl, or one child's uploadUrl; sweep: nothing).
#         Tests source this file instead of running it: main then does not run (main.sh), and
#         each function can be called on its own.
# Output: progress on stderr; the LAST line of stdout is one short JSON line: the RunnerManifest
#         (run, a child's reupload, cleanup), the HostSummary (plan, a session's reupload) or the
#         SweepManifest (sweep), all in lib/domain/; timings are Unix epoch milliseconds.
#         Exit status: the one of the error code (EXIT_STATUS below, generated from
#         lib/domain/errors.ts); 0 when the action succeeded.
# Needs:  bash 4.3+, docker CLI 20.10+ (docker run --pull), coreutils (timeout, sha256sum, df,
#         date, stat, base64), gzip, grep, curl (7.75+ for --aws-sigv4, used only to pull from
#         ECR), setsid; flock if present. Not jq, not the AWS CLI.
# Env:    DEBUG_TASK_HOME          work root (default /var/lib/debug-task)
#         AWS_SSM_INSTANCE_ID      this host's instance id (set by the SSM agent): a plan's share
#         DEBUG_TASK_UPLOAD_TRIES  upload attempts (default 5), for tests and the sandbox
#         DEBUG_TASK_KEEP_SECONDS  how long an artifact whose upload failed is kept past the later
#                                  of expiresAt and the failure (default 86400), for tests
#         DEBUG_TASK_IMDS_ENDPOINT instance metadata service (default http://169.254.169.254),
#         DEBUG_TASK_ECR_ENDPOINT  ECR API (default https://api.ecr.<region>.amazonaws.com, region
#                                  from the image's host): both for tests only; SSM never sets them

# SSM may start the script with sh; everything below is bash.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
