# shellcheck shell=bash
# Shell options, constants and the runner's global state. First of the parts: every other one reads
# what is declared here.

set -Eeuo pipefail
export LC_ALL=C
umask 077

readonly WORK_ROOT=${DEBUG_TASK_HOME:-/var/lib/debug-task}
readonly UPLOAD_TRIES=${DEBUG_TASK_UPLOAD_TRIES:-5}
# A kept artifact waits this long for `debug-task fetch` (action=reupload) before cleanup and the
# sweeper may remove it: expiresAt is only seconds after the upload gave up.
readonly KEEP_SECONDS=${DEBUG_TASK_KEEP_SECONDS:-86400}
# What keep_artifact records next to a kept artifact, so that a re-upload reports the same facts.
readonly FACTS_FILE=artifact.facts
# A run's manifest, in its work dir (and at manifestUrl); kept beside a kept artifact.
readonly MANIFEST_FILE=manifest.json
readonly LABEL_SESSION=debug-task.session
readonly LABEL_EXPIRES=debug-task.expires-at
# The toolbox must be gone by duration + this.
readonly STOP_GRACE_SECONDS=5
# The longest wait for a tool to say it is listening before its clock starts anyway (TOOLBOX_SCRIPT).
readonly READY_WAIT_SECONDS=10
readonly PULL_TIMEOUT_SECONDS=120
# Any short docker call; a hung engine must not hang the runner.
readonly DOCKER_CALL_TIMEOUT=60
readonly HELPER_TIMEOUT_SECONDS=120
readonly MIN_FREE_BYTES=100000000
# An image on this kind of host is pulled with the instance role (pull_from_ecr). Groups: account,
# -fips, region, .cn (China partition).
readonly ECR_REGISTRY_RE='^([0-9]{12})\.dkr\.ecr(-fips)?\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$'
readonly IMDS_ENDPOINT=${DEBUG_TASK_IMDS_ENDPOINT:-http://169.254.169.254}
readonly ECR_ENDPOINT_OVERRIDE=${DEBUG_TASK_ECR_ENDPOINT:-}
# A sweep lists at most this many session ids in its manifest (SSM keeps 24,000 characters).
readonly SWEEP_LIST_MAX=50
# A work dir that records no expiry (its runner died before writing one) expires this long after
# its last change: far beyond any session's longest life.
readonly UNKNOWN_EXPIRY_SECONDS=86400
# How long a stopped child or plan runner may take to remove what it started (and put its manifest).
readonly PLAN_STOP_SECONDS=30
# A plan's summary lists at most this many children whose manifest did not reach S3
# (lib/domain/host-summary.ts: UNREPORTED_MAX); it counts the others.
readonly UNREPORTED_MAX=200
# Characters of the listed children's messages, in all (plan_summary_json).
readonly UNREPORTED_MESSAGE_BUDGET=2000
# The marker of a plan runner's own work dir (the plan parent's), for cleanup.
readonly PLAN_PARENT_MARKER=plan-parent
# The suffix of a session's end mark under the work root (<session>.ended): a cleanup ended it here.
readonly ENDED_MARK_SUFFIX=.ended

# Parameter values after defaults (P[name]); the session's paths and names, once known.
declare -A P=()
SESSION=''
WORK=''
OUT=''
# What check_toolbox_output found under $OUT: each regular file's name -> "size mtime".
declare -A OUT_FILES=()
CONTAINER=''
# The interface the capture tools are given when iface is empty: set for a host-network target only.
CAPTURE_IFACE=''
# The target's main process as the host numbers it (check_target): its /proc shows the task's netns.
TARGET_PID=''

# What the manifest reports.
STATUS=FAILED
ERROR_CODE=''
ERROR_MESSAGE=''
TOOL_EXIT=''
PACKETS=''
DROPPED=''
LINK_TYPE=''
ARTIFACT_BYTES=''
ARTIFACT_SHA=''
OBJECT_BYTES=''
OBJECT_SHA=''
TRUNCATED=false
UPLOADED=false
HOST_PATH=''
# The ring buffer (lib/ring.sh): its shape, and what the join found.
RING_WINDOW_SECONDS=0
RING_BOUND_BYTES=0
RING_CHUNK_SECONDS=0
RING_FILE_MB=0
RING_FILES_KEPT=0
RING_TCPDUMP_ARGS=()
RING_ROTATED=''
RING_WRAPPED=false
# A re-upload read the ring's facts of its kept artifact.
RING_KEPT=false
RING_FIRST_PACKET_AT=''
RING_CAPTURED=''
STARTED_AT=''
CAPTURE_STARTED_AT=''
CAPTURE_ENDED_AT=''
CLEANUP_REPORT=''
SWEEP_REPORT=''
# The manifest (JSON) once built; whether it reached manifestUrl ('' when none was given).
MANIFEST=''
MANIFEST_UPLOADED=''

# A plan's share: this host's instance id, the script its children run, the action they run (run or
# reupload), its lines (child ids, container ids, artifact and manifest URLs), the children's pids.
INSTANCE_ID=''
SELF=''
SHARE_ACTION=''
declare -a SHARE_IDS=() SHARE_CONTAINERS=() SHARE_ARTIFACT_URLS=() SHARE_MANIFEST_URLS=() CHILD_PIDS=()

# What teardown must undo.
CHILD_PID=''
HASH_PID=''
# The overlapped start's background docker calls (start_gated_toolbox): the gated toolbox's run
# and the session listing; teardown awaits them (a run that ends after the look for leftovers
# would leave its container behind).
TOOLBOX_RUN_PID=''
SESSIONS_PID=''
# The toolbox's removal, in the background once it ended (remove_toolbox_async).
REMOVE_PID=''
CREATED_CONTAINERS=0
TOOLBOX_STARTED=0
# The toolbox's gate is made (make_gate: a FIFO held open on descriptor 8).
GATE_MADE=0
WATCHDOG_STARTED=0
WORKDIR_CREATED=0
KEEP_WORKDIR=0
KEEP_UNTIL=''
REUPLOAD_CLAIMED=0
REUPLOADED=0
FORCED_KILL=0

# The ECR pull's transient credentials (curl configs, Docker config) and what it learnt.
AUTH_DIR=''
DOCKER_CONFIG_DIR=''
ECR_ROLE=''
HTTP_CODE=''
PULL_ERROR=''

# Where set -e stopped the runner (the ERR trap), for the manifest of an unexpected failure.
FAILED_LINE=''
FAILED_COMMAND=''
