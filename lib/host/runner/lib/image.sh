# shellcheck shell=bash
# The toolbox image: present, or pulled (from ECR with the instance role, or a plain docker pull).

ensure_image() {
  if ! image_present; then fetch_image; fi
}

image_present() { dk image inspect "${P[image]}" >/dev/null 2>&1; }

# Pulls the missing toolbox image: from ECR with the instance role, or a plain docker pull.
fetch_image() {
  local image=${P[image]} registry
  registry=$(image_registry "$image")
  if [[ $registry =~ $ECR_REGISTRY_RE ]]; then
    pull_from_ecr "$image" "$registry" "${BASH_REMATCH[3]}" "${BASH_REMATCH[2]}" "${BASH_REMATCH[4]}"
    return 0
  fi
  log "pulling toolbox image $image (at most ${PULL_TIMEOUT_SECONDS}s)"
  if ! pull_image "$image"; then
    fail TOOLBOX_IMAGE_UNAVAILABLE "The toolbox image $image is not on this host and could not be pulled: $PULL_ERROR."
  fi
}

# docker pull with a time limit; extra arguments are VAR=value words for its environment. On
# failure PULL_ERROR says why, in docker's words.
pull_image() {
  local image=$1 status=0
  shift
  interruptible timeout "$PULL_TIMEOUT_SECONDS" env "$@" docker pull "$image" >"$WORK/pull.log" 2>&1 || status=$?
  if ((status == 0)); then return 0; fi
  PULL_ERROR=$(last_lines "$WORK/pull.log" 2)
  if ((status == 124)); then PULL_ERROR="the pull took longer than ${PULL_TIMEOUT_SECONDS}s"; fi
  PULL_ERROR=${PULL_ERROR:-docker pull failed with status $status}
  return 1
}

# The registry host of an image reference, read as docker reads it: the first path component when
# it looks like a host (a dot, a port, or localhost), Docker Hub otherwise.
image_registry() {
  local first=${1%%/*}
  if [[ $1 == */* && ($first == *.* || $first == *:* || $first == localhost) ]]; then
    printf '%s' "$first"
  else
    printf 'docker.io'
  fi
}

# The ECS agent authenticates its own pulls, but a plain `docker pull` here has no ECR credentials
# and the hosts have no AWS CLI (Flatcar). So, for this one pull: the instance role's credentials
# from IMDSv2, an authorization token from ECR's GetAuthorizationToken (signed by curl's SigV4),
# and a Docker config of our own. root's ~/.docker is never read or written (the host stays as it
# was); credentials go to curl through config files (-K), never through its argv (ps shows argv),
# and every file holding one is removed as soon as it has served.
pull_from_ecr() {
  local image=$1 registry=$2 region=$3 fips=$4 cn=$5 ecr=$ECR_ENDPOINT_OVERRIDE
  if [[ -z $ecr ]]; then
    if [[ -n $fips ]]; then ecr=https://ecr-fips.$region.amazonaws.com$cn; else ecr=https://api.ecr.$region.amazonaws.com$cn; fi
  fi
  check_endpoint DEBUG_TASK_IMDS_ENDPOINT "$IMDS_ENDPOINT"
  check_endpoint DEBUG_TASK_ECR_ENDPOINT "$ecr"
  log "pulling toolbox image $image from ECR ($region) with the instance role (at most ${PULL_TIMEOUT_SECONDS}s)"
  AUTH_DIR=$WORK/ecr-auth DOCKER_CONFIG_DIR=$WORK/docker-config
  mkdir -m 0700 -- "$AUTH_DIR" "$DOCKER_CONFIG_DIR"
  instance_role_credentials
  ecr_docker_config "$ecr" "$region" "$registry"
  local pulled=0
  pull_image "$image" "DOCKER_CONFIG=$DOCKER_CONFIG_DIR" || pulled=$?
  remove_registry_auth
  if ((pulled != 0)); then
    ecr_fail "ECR gave the instance role ($ECR_ROLE) a token, but docker pull failed" \
      'The role needs ecr:BatchGetImage and ecr:GetDownloadUrlForLayer on the repository (its repository policy must allow them too)' \
      "docker pull said: $PULL_ERROR"
  fi
}

# Only a plain http(s) URL, no path: the endpoints are test overrides, but a typo must not send the
# instance's credentials somewhere unexpected.
check_endpoint() {
  if ! [[ $2 =~ ^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$ ]]; then
    fail INVALID_ARGUMENT "$1 must be http(s)://host[:port] without a path (received \"${2:0:120}\")."
  fi
}

# TOOLBOX_IMAGE_UNAVAILABLE: what failed, what to do, then what the other side said (last: the
# manifest keeps 1000 characters of a message, and the advice must survive the cut).
ecr_fail() {
  remove_registry_auth
  fail TOOLBOX_IMAGE_UNAVAILABLE "The toolbox image ${P[image]} is not on this host and could not be pulled from ECR: $1. $2, or pre-pull the image on the host.${3:+ $3}"
}

remove_registry_auth() {
  local dir
  for dir in "$AUTH_DIR" "$DOCKER_CONFIG_DIR"; do
    if [[ -n $dir ]]; then rm -rf -- "$dir"; fi
  done
}

# One request of the ECR path. The body goes to $AUTH_DIR/<name>.body, the HTTP status to
# HTTP_CODE (000: no answer) and curl's own message to $AUTH_DIR/<name>.err. No --fail: ECR's
# error body says what was denied.
auth_request() {
  local name=$1
  shift
  interruptible curl -sS -o "$AUTH_DIR/$name.body" -w '%{http_code}' --connect-timeout 3 --max-time 20 \
    "$@" >"$AUTH_DIR/$name.code" 2>"$AUTH_DIR/$name.err" || true
  HTTP_CODE=$(tr -dc 0-9 <"$AUTH_DIR/$name.code")
  HTTP_CODE=${HTTP_CODE:-000}
}

# Prints a response body once and removes it: the bodies of the ECR path may hold credentials.
take_body() {
  local file=$AUTH_DIR/$1.body
  if [[ -f $file ]]; then
    cat -- "$file"
    rm -f -- "$file"
  fi
}

# IMDSv2: a session token (PUT), the role's name, then its temporary credentials, written as a curl
# config for the ECR request ($AUTH_DIR/ecr.curl). --noproxy: the metadata service is link-local;
# an HTTP proxy set for the SSM agent must not see these requests.
instance_role_credentials() {
  local imds=$IMDS_ENDPOINT body key secret token
  local -a imds_args=(--noproxy '*' -K "$AUTH_DIR/imds.curl")
  auth_request imds-token --noproxy '*' -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' "$imds/latest/api/token"
  if [[ $HTTP_CODE != 200 ]]; then
    ecr_fail "the instance metadata service (IMDSv2 at $imds) is unreachable ($(http_failure imds-token))" \
      'Make sure the instance metadata service is enabled for the instance (IMDSv2 tokens, reachable from the host)'
  fi
  body=$(take_body imds-token)
  if ! [[ $body =~ ^[A-Za-z0-9+/=_-]{1,512}$ ]]; then
    ecr_fail "the instance metadata service (IMDSv2 at $imds) answered no usable token" \
      'Check the instance metadata options (aws ec2 describe-instances ... MetadataOptions)'
  fi
  printf 'header = "X-aws-ec2-metadata-token: %s"\n' "$body" >"$AUTH_DIR/imds.curl"

  auth_request imds-role "${imds_args[@]}" "$imds/latest/meta-data/iam/security-credentials/"
  ECR_ROLE=$(take_body imds-role | head -n 1 | tr -d '\r' || true)
  if [[ $HTTP_CODE == 404 ]] || [[ $HTTP_CODE == 200 && -z $ECR_ROLE ]]; then
    ecr_fail 'the instance has no instance role (no IAM instance profile)' \
      'Attach an instance profile whose role (the ECS container instance role, e.g. ecsInstanceRole) has ecr:GetAuthorizationToken, ecr:BatchGetImage and ecr:GetDownloadUrlForLayer'
  fi
  if [[ $HTTP_CODE != 200 ]]; then
    ecr_fail "the instance metadata service (IMDSv2 at $imds) did not name the instance role ($(http_failure imds-role))" \
      'Make sure the instance metadata service is enabled for the instance'
  fi
  if ! [[ $ECR_ROLE =~ ^[A-Za-z0-9+=,.@_-]{1,128}$ ]]; then
    ecr_fail 'the instance metadata service named an instance role that is not a valid role name' \
      'Check the instance profile of the instance'
  fi

  auth_request imds-credentials "${imds_args[@]}" "$imds/latest/meta-data/iam/security-credentials/$ECR_ROLE"
  body=$(take_body imds-credentials)
  rm -f -- "$AUTH_DIR/imds.curl"
  key=$(json_field AccessKeyId "$body") secret=$(json_field SecretAccessKey "$body") token=$(json_field Token "$body")
  body=''
  # Checked character by character: these values go into a curl config file between quotes.
  if [[ $HTTP_CODE != 200 || ! $key =~ ^[A-Z0-9]{16,128}$ || ! $secret =~ ^[A-Za-z0-9+/=]{16,128}$ || ! $token =~ ^[A-Za-z0-9+/=]*$ ]]; then
    ecr_fail "the instance metadata service gave no usable credentials for the instance role $ECR_ROLE (HTTP $HTTP_CODE)" \
      'Check the instance profile of the instance (aws iam get-instance-profile)'
  fi
  {
    printf 'user = "%s:%s"\n' "$key" "$secret"
    if [[ -n $token ]]; then printf 'header = "x-amz-security-token: %s"\n' "$token"; fi
  } >"$AUTH_DIR/ecr.curl"
}

# ECR GetAuthorizationToken (JSON 1.1 protocol, SigV4 for service ecr in the image's region); its
# authorizationToken is base64("AWS:<password>"), exactly what a Docker config's "auth" holds.
ecr_docker_config() {
  local ecr=$1 region=$2 registry=$3 body auth prefix
  auth_request ecr -K "$AUTH_DIR/ecr.curl" --aws-sigv4 "aws:amz:$region:ecr" \
    -H 'X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken' \
    -H 'Content-Type: application/x-amz-json-1.1' --data '{}' "$ecr/"
  rm -f -- "$AUTH_DIR/ecr.curl"
  body=$(take_body ecr)
  if [[ $HTTP_CODE == 000 ]]; then
    ecr_fail "ECR ($ecr) is unreachable ($(http_failure ecr))" \
      "The host needs a route to ECR: a NAT gateway, or VPC endpoints for com.amazonaws.$region.ecr.api, ecr.dkr and s3"
  fi
  if [[ $HTTP_CODE != 200 ]]; then
    ecr_fail "ECR denied GetAuthorizationToken to the instance role $ECR_ROLE (HTTP $HTTP_CODE)" \
      'Grant the instance role (e.g. ecsInstanceRole) ecr:GetAuthorizationToken, ecr:BatchGetImage and ecr:GetDownloadUrlForLayer (AmazonEC2ContainerServiceforEC2Role has them)' \
      "ECR said: $(aws_error "$body")"
  fi
  auth=$(json_field authorizationToken "$body")
  body=''
  prefix=$(printf '%s' "$auth" | base64 -d 2>/dev/null | head -c 4 || true)
  if ! [[ $auth =~ ^[A-Za-z0-9+/]+=*$ && $prefix == AWS: ]]; then
    ecr_fail 'ECR answered GetAuthorizationToken without a usable authorizationToken' 'Retry'
  fi
  printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$registry" "$auth" >"$DOCKER_CONFIG_DIR/config.json"
  chmod 600 "$DOCKER_CONFIG_DIR/config.json"
}

# curl's message, or the HTTP status when there was an answer.
http_failure() {
  if [[ $HTTP_CODE == 000 ]]; then last_lines "$AUTH_DIR/$1.err" 1; else printf 'HTTP %s' "$HTTP_CODE"; fi
}
