#!/usr/bin/env bash
# proxy.sh — the sidecar data path beside HAProxy, in one run, on loopback.
# An echo app (the shared tcpbench) and an iperf3 server sit behind
#   - a Tessera sidecar pair (web's upstream -> mTLS -> socat's sidecar), and
#   - an HAProxy mTLS pair (../shared/tools/haproxy-mtls-pair.sh),
# and are also measured directly. Prints, for each path: 64-byte round trip
# p50/p99 (tcpbench rr), new connections/s (tcpbench conn), one-way
# throughput (iperf3), and memory idle and with 1,000 open connections
# (RSS, PSS and USS, for the Tessera sidecars and HAProxy's pair); then the
# ratios Tessera/HAProxy.
# Each path is measured ROUNDS times, the two pairs alternating which goes
# first (this machine's numbers drift by 20 % between runs); medians are
# compared.
# Env: PROXY_THREADS (1, the sidecar's -threads), ROUNDS (3), CONNS (2000), RR (20000), IPERF_SECONDS (5), KEEP_TMP=1,
# TESSERA_BIN (the sidecars' binary; default target/release/tessera: to compare builds).
set -Eeuo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SHARED=${SHARED:-$ROOT/../shared/tools}
CONNS=${CONNS:-2000}
RR=${RR:-20000}
IPERF_SECONDS=${IPERF_SECONDS:-5}
ROUNDS=${ROUNDS:-3}
for tool in haproxy iperf3 openssl curl; do
    command -v "$tool" >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy iperf3 openssl curl >/dev/null; break; }
done
cargo build --release -q -p tessera -p tessera-bench
source bench/lib.sh
cp -r "$SHARED/tcpbench" "$TMP/tcpbench-src"
cargo build --release -q --manifest-path "$TMP/tcpbench-src/Cargo.toml" --target-dir "$ROOT/target/tcpbench"
TCPBENCH=$ROOT/target/tcpbench/release/tcpbench
BIN=${TESSERA_BIN:-$ROOT/target/release/tessera}
LOAD=$ROOT/target/release/tessera-bench
stop_extra() {
    "$SHARED/haproxy-mtls-pair.sh" stop "$TMP/haproxy-echo" >/dev/null 2>&1 || true
    "$SHARED/haproxy-mtls-pair.sh" stop "$TMP/haproxy-iperf" >/dev/null 2>&1 || true
}
ulimit -n "$(ulimit -Hn)"

APP=18181; IPERF=15201
"$TCPBENCH" echo 127.0.0.1:$APP >/dev/null 2>&1 & PIDS+=($!)
iperf3 -s -p $IPERF -D -I "$TMP/iperf.pid" >/dev/null 2>&1; PIDS+=("$(cat "$TMP/iperf.pid" 2>/dev/null || echo 0)")

# Tessera: a -dev agent on 127.0.0.60, sidecars for echo and iperf, web's upstreams to both.
A=127.0.0.60
mkdir -p "$TMP/d"
cat >"$TMP/d/services.json" <<JSON
{"services": [
  {"name": "echo", "port": $APP, "connect": {"sidecar_service": {}}},
  {"name": "iperf", "port": $IPERF, "connect": {"sidecar_service": {}}},
  {"name": "web", "port": 8080, "connect": {"sidecar_service": {"proxy": {"upstreams": [
     {"destination_name": "echo", "local_bind_port": 19191},
     {"destination_name": "iperf", "local_bind_port": 19301}]}}}}
]}
JSON
"$BIN" agent -dev -bind $A -client $A -config-dir "$TMP/d" -log-level warn >"$TMP/agent.log" 2>&1 & PIDS+=($!)
until curl -sf "http://$A:8500/v1/agent/connect/ca/roots" >/dev/null; do sleep 0.2; done
proxy() { "$BIN" connect proxy -threads "${PROXY_THREADS:-1}" -http-addr $A:8500 -grpc-addr $A:8502 -log-level warn -sidecar-for "$1" >"$TMP/$1-proxy.log" 2>&1 & PIDS+=($!); }
proxy echo; ECHO_PROXY=$!
proxy iperf
proxy web; WEB_PROXY=$!
until [ "$(echo hi | timeout 2 nc -q1 127.0.0.1 19191 2>/dev/null)" = hi ]; do sleep 0.3; done

"$SHARED/haproxy-mtls-pair.sh" start $APP 19292 "$TMP/haproxy-echo" >/dev/null
"$SHARED/haproxy-mtls-pair.sh" start $IPERF 19402 "$TMP/haproxy-iperf" >/dev/null
until [ "$(echo hi | timeout 2 nc -q1 127.0.0.1 19292 2>/dev/null)" = hi ]; do sleep 0.3; done

# A process's memory from smaps_rollup: RSS, PSS (shared pages divided
# among the processes that map them) and USS (private pages only). N
# sidecars share one binary's pages, so USS is what each one costs.
uss_kb() { awk '/^Private_(Clean|Dirty):/ {u += $2} END {print u}' "/proc/$1/smaps_rollup"; }
mem_kb() {
    awk '/^Rss:/ {r = $2} /^Pss:/ {p = $2} /^Private_(Clean|Dirty):/ {u += $2}
        END {printf "RSS %d kB, PSS %d kB, USS %d kB", r, p, u}' "/proc/$1/smaps_rollup"
}
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
IDLE="echo sidecar: $(mem_kb $ECHO_PROXY); web sidecar: $(mem_kb $WEB_PROXY)"
declare -A RESULTS
# One measurement of a path, appended to RESULTS[<path> <metric>].
measure() {
    local name=$1 echo_port=$2 iperf_port=$3 out
    out=$("$TCPBENCH" rr 127.0.0.1:$echo_port 64 "$RR")
    RESULTS[$name p50]+=" $(echo "$out" | field p50_us)"
    RESULTS[$name p99]+=" $(echo "$out" | field p99_us)"
    RESULTS[$name cps]+=" $("$TCPBENCH" conn 127.0.0.1:$echo_port "$CONNS" | field per_s)"
    RESULTS[$name gbps]+=" $(iperf3 -c 127.0.0.1 -p "$iperf_port" -t "$IPERF_SECONDS" -J 2>/dev/null \
        | python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9))')"
}
median() { python3 -c 'import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))' $1; }
echo "== $ROUNDS rounds, paths alternating: 64-byte round trips ($RR), new connections ($CONNS), iperf3 one way (${IPERF_SECONDS}s)"
for round in $(seq 1 "$ROUNDS"); do
    measure direct $APP $IPERF
    if [ $((round % 2)) = 1 ]; then
        measure tessera 19191 19301; measure haproxy 19292 19402
    else
        measure haproxy 19292 19402; measure tessera 19191 19301
    fi
done
declare -A MED
for name in direct haproxy tessera; do
    for metric in p50 p99 cps gbps; do MED[$name $metric]=$(median "${RESULTS[$name $metric]}"); done
    printf '%-8s rr p50 %6s us  p99 %6s us   new conns %7s/s   one way %6s Gbit/s   (medians; runs: gbps%s)\n' \
        "$name" "${MED[$name p50]}" "${MED[$name p99]}" "${MED[$name cps]}" "${MED[$name gbps]}" "${RESULTS[$name gbps]}"
done

echo "== memory (USS targets per Tessera sidecar: <= 2048 kB idle, <= 40960 kB with 1000 connections)"
HAP_SERVER=$(cat "$TMP/haproxy-echo/server.pid"); HAP_CLIENT=$(cat "$TMP/haproxy-echo/client.pid")
echo "idle at start: $IDLE"
echo "idle after the runs: echo sidecar: $(mem_kb $ECHO_PROXY); web sidecar: $(mem_kb $WEB_PROXY)"
echo "HAProxy idle: server: $(mem_kb "$HAP_SERVER"); client: $(mem_kb "$HAP_CLIENT")"
IDLE_USS=$(uss_kb $ECHO_PROXY)
"$LOAD" hold --addr 127.0.0.1:19191 --count 1000 --seconds 6 & HOLD=$!
"$LOAD" hold --addr 127.0.0.1:19292 --count 1000 --seconds 6 & HOLD_HAP=$!
sleep 4
echo "with 1000 open connections: echo sidecar: $(mem_kb $ECHO_PROXY); web sidecar: $(mem_kb $WEB_PROXY)"
echo "with 1000 open connections: HAProxy server: $(mem_kb "$HAP_SERVER"); client: $(mem_kb "$HAP_CLIENT")"
LOADED_USS=$(( $(uss_kb $ECHO_PROXY) > $(uss_kb $WEB_PROXY) ? $(uss_kb $ECHO_PROXY) : $(uss_kb $WEB_PROXY) ))
wait $HOLD $HOLD_HAP || true
echo "Tessera sidecar USS: idle $IDLE_USS kB (target <= 2048), 1000 connections $LOADED_USS kB (target <= 40960)"

ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }
echo "== Tessera / HAProxy (medians)"
echo "one-way throughput: $(ratio "${MED[tessera gbps]}" "${MED[haproxy gbps]}")x (target >= 1.5)"
echo "new connections/s:  $(ratio "${MED[tessera cps]}" "${MED[haproxy cps]}")x (target >= 2)"
echo "round-trip p50:     $(ratio "${MED[tessera p50]}" "${MED[haproxy p50]}")x (target <= 1)"
