#!/usr/bin/env bash
# faults.sh — the fault suite's long run: every fault of
# cluster-tests/src/faults ROUNDS times under a recording KV workload, each
# history checked for linearizability (cluster-tests/src/checker), and one
# table row per fault run:
#
#   fault  ops  acked  unknown  lost  linearizable  stale-ok  longest-write-gap  revoked-accepted
#
# It runs the cluster test t55 (3 servers and 2 client agents in network
# namespaces 10.231.55.0/24, TLS and default-deny ACLs on, one server's data
# dir on a 256 MiB tmpfs; needs root, iproute2 and mount) with
#   TESSERA_FAULT_ROUNDS=$ROUNDS       (default 20)
#   TESSERA_FAULT_TIME_LIMIT=$LIMIT    seconds; no round starts after it (default 3000)
#   TESSERA_FAULT_HOLD_MS=$HOLD_MS     how long each fault is held (default 4000)
#   TESSERA_FAULTS=$FAULTS             only these (comma-separated names; default all)
# A failing history (with its smallest failing prefix) is written to
# target/tmp/faults/; a retried CAS applied twice fails the run like any violation.
# The whole run is also bounded by `timeout` (LIMIT plus 10 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${1:-}" = --help ] && { sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0; }

ROUNDS=${ROUNDS:-20}
LIMIT=${LIMIT:-3000}
HOLD_MS=${HOLD_MS:-4000}
FAULTS=${FAULTS:-}

cargo build -p tessera
TESSERA_FAULT_ROUNDS=$ROUNDS TESSERA_FAULT_TIME_LIMIT=$LIMIT TESSERA_FAULT_HOLD_MS=$HOLD_MS TESSERA_FAULTS=$FAULTS \
    timeout $((LIMIT + 600)) cargo test -p cluster-tests --test cluster -- --exact \
    t55_faults::t55_under_every_fault_no_acknowledged_write_is_lost_and_default_reads_are_linearizable --nocapture \
    2>&1 | grep -E '^(fault |[a-z-]+ +[0-9]+ |===|[0-9]+ fault runs|test t55|thread|faults that)'
