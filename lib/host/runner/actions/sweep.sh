# shellcheck shell=bash
# action=sweep: everything expired on this host (lib/sweep.sh does the work).

# Everything expired on this host, whatever happened to its session: a scheduled backstop for the
# watchdogs (a host that rebooted has none) and for runners killed before their teardown.
sweep_host() {
  local now
  check_engine
  now=$(date +%s)
  sweep_watchdogs "$now"
  sweep_containers "$now"
  sweep_workdirs "$now"
  sweep_ended_marks "$now"
  log "removed ${SWEPT[containersRemoved]} container(s) and ${SWEPT[workDirsRemoved]} work dir(s), stopped ${SWEPT[watchdogsStopped]} watchdog(s); kept ${SWEPT[containersKept]} container(s) and ${SWEPT[workDirsKept]} work dir(s) not yet expired"
  SWEEP_REPORT=$(sweep_json)
  STATUS=OK
}
