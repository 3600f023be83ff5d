# lib.sh — what the Tessera benchmark scripts share; sourced, not run.
# Expects BIN (the tessera binary) and TMP (a scratch directory) to be set.

PIDS=()

# Kills everything the script started; keeps $TMP with KEEP_TMP=1.
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ "${KEEP_TMP:-}" = 1 ] || rm -rf "$TMP"
}

# start_servers IP...: one server per address, each joining the others,
# bootstrapping when all are up; logs in $TMP/s<i>.log.
start_servers() {
    local ips=("$@") i j peers
    for i in "${!ips[@]}"; do
        peers=()
        for j in "${!ips[@]}"; do [ "$i" = "$j" ] || peers+=(-retry-join "${ips[$j]}"); done
        "$BIN" agent -server -bootstrap-expect "${#ips[@]}" -node "s$i" -bind "${ips[$i]}" -client "${ips[$i]}" \
            -data-dir "$TMP/s$i" -log-level warn "${peers[@]}" >"$TMP/s$i.log" 2>&1 &
        PIDS+=($!)
    done
}
