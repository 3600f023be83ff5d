#!/usr/bin/env bash
# Builds the cargo-fuzz targets (fuzz/, nightly) and runs each for a bounded
# time, printing per target the runs made and whether it crashed.
#
#   FUZZ_SECONDS=60      seconds per target (libFuzzer's -max_total_time)
#   FUZZ_SERVER=1        also query_params, which needs the whole server
#                        crate built under cargo fuzz (over 10 min on 2 cores)
#   FUZZ_TARGETS="a b"   only these targets
#
# Corpora grow in fuzz/corpus/<target> (only the seed-* files are tracked);
# crash inputs go to fuzz/artifacts/<target>/. Exits 1 if any target crashed.
# Reproduce one with `cd fuzz && cargo +nightly fuzz run <target> <artifact>`.
set -u
cd "$(dirname "$0")/../fuzz" || exit 2

seconds=${FUZZ_SECONDS:-60}
features=()
targets=(service_definition agent_config acl_rules filter hcl1 csr raft_command dns_message)
if [ "${FUZZ_SERVER:-0}" = 1 ]; then
    features=(--features server)
    targets+=(query_params)
fi
[ -n "${FUZZ_TARGETS:-}" ] && read -r -a targets <<<"$FUZZ_TARGETS"

cargo +nightly fuzz build "${features[@]}" || exit 2

crashed=0
mkdir -p logs
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target" "artifacts/$target"
    log="logs/$target.log"
    start=$(date +%s)
    cargo +nightly fuzz run "${features[@]}" "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1
    rc=$?
    elapsed=$(($(date +%s) - start))
    runs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log" | tail -1)
    if [ "$rc" -ne 0 ]; then
        crashed=1
        artifact=$(grep -o 'artifacts/[^ ]*' "$log" | tail -1)
        printf '%-20s runs=%-10s seconds=%-5s CRASH (exit %s) %s, log fuzz/%s\n' \
            "$target" "${runs:-?}" "$elapsed" "$rc" "${artifact:-}" "$log"
    else
        printf '%-20s runs=%-10s seconds=%-5s no crash\n' "$target" "${runs:-?}" "$elapsed"
    fi
done
exit "$crashed"
