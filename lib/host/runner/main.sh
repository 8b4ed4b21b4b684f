# shellcheck shell=bash
# The entry point: reads the parameters and runs the action asked for. Last of the parts, so that
# every function is defined when main runs.

main() {
  exec 3>&1 1>&2 # stdout carries only the manifest; every other line goes to stderr
  stamp_ms STARTED_AT
  trap on_exit EXIT
  trap 'on_signal INT' INT
  trap 'on_signal TERM' TERM
  trap 'on_signal HUP' HUP
  trap 'FAILED_LINE=$LINENO FAILED_COMMAND=$BASH_COMMAND' ERR

  load_params
  case ${P[action]} in
    run) run_session ;;
    plan) run_plan ;;
    cleanup) cleanup_session ;;
    stop) stop_session ;;
    reupload) reupload_action ;;
    sweep) sweep_host ;;
  esac
}

# Run when executed (bash runner.sh, or the SSM agent's script file), not when sourced by a test.
# The built runner runs only from a file, as SSM and the bootstrap run it: it is over 128 KiB,
# Linux's limit for one argument (MAX_ARG_STRLEN), so `bash -c "<script>"` cannot carry it.
if [[ ${BASH_SOURCE[0]:-$0} == "$0" ]]; then main "$@"; fi
