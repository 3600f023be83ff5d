# lib.sh — what the Tessera benchmark scripts share; sourced, not run.
# Makes TMP (a scratch directory) and arranges for cleanup on exit.
# start_servers expects BIN (the tessera binary).

TMP=$(mktemp -d)
PIDS=()
SERVER_EXTRA=()

# Kills everything the script started (after the script's own
# stop_extra, if it defines one); keeps $TMP with KEEP_TMP=1.
cleanup() {
    if declare -F stop_extra >/dev/null; then stop_extra; fi
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ "${KEEP_TMP:-}" = 1 ] || rm -rf "$TMP"
}

# make_tls: an agent CA and a server and a client certificate in $TMP/tls,
# made by the CLI as an operator would; TLS_SERVER and TLS_CLIENT hold the
# agent flags for each (the server port speaks TLS always).
make_tls() {
    mkdir -p "$TMP/tls"
    (cd "$TMP/tls" && "$BIN" tls ca create >/dev/null && "$BIN" tls cert create -server >/dev/null \
        && "$BIN" tls cert create -client >/dev/null) || { echo "tessera tls failed"; exit 1; }
    TLS_SERVER=(-ca-file "$TMP/tls/consul-agent-ca.pem" -cert-file "$TMP/tls/dc1-server-consul-0.pem"
        -key-file "$TMP/tls/dc1-server-consul-0-key.pem")
    TLS_CLIENT=(-ca-file "$TMP/tls/consul-agent-ca.pem" -cert-file "$TMP/tls/dc1-client-consul-0.pem"
        -key-file "$TMP/tls/dc1-client-consul-0-key.pem")
}

# start_servers IP...: one server per address, each joining the others,
# bootstrapping when all are up, with SERVER_EXTRA's flags (an array, may
# be unset); logs in $TMP/s<i>.log.
start_servers() {
    local ips=("$@") i j peers
    [ -n "${TLS_SERVER+x}" ] || make_tls
    for i in "${!ips[@]}"; do
        peers=()
        for j in "${!ips[@]}"; do [ "$i" = "$j" ] || peers+=(-retry-join "${ips[$j]}"); done
        "$BIN" agent -server -bootstrap-expect "${#ips[@]}" -node "s$i" -bind "${ips[$i]}" -client "${ips[$i]}" \
            -data-dir "$TMP/s$i" -log-level warn "${peers[@]}" "${TLS_SERVER[@]}" "${SERVER_EXTRA[@]}" \
            >"$TMP/s$i.log" 2>&1 &
        PIDS+=($!)
    done
}

# start_client NAME IP SERVER: a client agent with config dir $TMP/c.d,
# joining SERVER; log in $TMP/NAME.log.
start_client() {
    [ -n "${TLS_CLIENT+x}" ] || make_tls
    "$BIN" agent -node "$1" -bind "$2" -client "$2" -data-dir "$TMP/$1" -config-dir "$TMP/c.d" \
        -retry-join "$3" -log-level warn "${TLS_CLIENT[@]}" >"$TMP/$1.log" 2>&1 &
    PIDS+=($!)
}

# wait_for SECS CMD...: runs CMD until it succeeds; after SECS, keeps $TMP
# and fails the script.
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        [ $SECONDS -lt $deadline ] || { echo "cluster did not come up; logs in $TMP"; KEEP_TMP=1; exit 1; }
        sleep 0.2
    done
}

trap cleanup EXIT INT TERM
