# shellcheck shell=bash
# action=run: one capture next to one container (one child of a plan, or debug-task local).

# Every docker call costs 15-40 ms (a Go binary starting, an Engine API round trip), and the start
# of a session is what its user waits for (BENCHMARKS.md, figure 1). So the healthy path makes three,
# all at once (start_toolbox_overlapped): the target's inspect (which also proves the engine
# answers), the session listing under the host lock and the toolbox's start, gated: its tool runs
# only once every check passed; the image's presence is learnt from that start itself (--pull
# never). The other checks run only when something failed or something costly is about to happen.
run_session() {
  check_run_params
  if follow_on; then read_chunk_form; fi
  set_container_args
  if overlapped_start_fits; then
    start_toolbox_overlapped
  else
    check_target
    prepare_workdir
    refuse_if_ended
    check_disk
    start_watchdog
    if follow_on; then start_follow; fi
    if [[ -n ${P[startAt]} ]]; then
      start_toolbox_at
    else
      if takes_filter "${P[tool]}" && [[ -n ${P[filter]}${P[iface]} ]]; then
        # The filter check is a container of its own, from the image: refuse a busy host before it.
        check_capacity
        ensure_image
        check_filter
      fi
      start_toolbox
    fi
  fi
  stop_if_asked
  wait_for_toolbox
  read_stop_marker
  if follow_on; then finish_follow; fi
  if ring_on; then join_ring; fi
  collect_tool_result
  if ring_on; then ring_packets; fi
  finish_artifact
  package_artifact
  deliver_artifact
  await_toolbox_removal
}
