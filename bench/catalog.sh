#!/usr/bin/env bash
# catalog.sh — catalog benchmarks on loopback: 3 Tessera servers
# (127.0.0.61-63) and one client agent (127.0.0.64), release builds.
#   1. registrations through the client agent (tessera-bench register):
#      accepted/s and sustained/s (until the catalog lists them all);
#   2. blocking-query fan-out: 1000 watches on /v1/health/service/socat,
#      a TTL check flipped, time from the change to each answer
#      (through the client agent, and on a server directly);
#   3. DNS queries/s with dnsperf (Debian package), on a server and on the
#      client agent (which asks a server over gRPC);
#   4. health/service reads/s over 10,000 instances with and without a
#      ?filter= that keeps them all (target: filtered >= 0.8x unfiltered);
#   5. the read behind /v1/catalog/services on a store of 1,000 names at
#      1,000 to 50,000 instances: per-name summaries beside a full scan.
# Env: SECONDS_PER_RUN (default 10), WATCHERS (1000), KEEP_TMP=1.
set -Eeuo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
WATCHERS=${WATCHERS:-1000}
for tool in dnsperf curl; do
    command -v "$tool" >/dev/null || { apt-get install -y -qq dnsperf curl >/dev/null; break; }
done
cargo build --release -q -p tessera -p tessera-bench
BIN=$PWD/target/release/tessera
LOAD=target/release/tessera-bench
source bench/lib.sh
ulimit -n "$(ulimit -Hn)"

S=(127.0.0.61 127.0.0.62 127.0.0.63)
start_servers "${S[@]}"
mkdir -p "$TMP/c.d"
cat >"$TMP/c.d/socat.json" <<'JSON'
{"service": {"name": "socat", "port": 8181, "check": {"id": "socat-ttl", "ttl": "10m", "status": "passing"}}}
JSON
C=127.0.0.64
start_client c1 $C "${S[0]}"
socat_registered() { curl -sf "http://$C:8500/v1/health/service/socat" | grep -q socat-ttl; }
wait_for 60 socat_registered

echo "== registrations through the client agent (${SECONDS_PER_RUN}s, 16 concurrent)"
"$LOAD" register --addr $C:8500 --seconds "$SECONDS_PER_RUN" --concurrency 16

echo "== blocking-query fan-out: $WATCHERS watches on socat, through the client agent"
"$LOAD" fanout --addr $C:8500 --service socat --check socat-ttl --watchers "$WATCHERS" --rounds 5
echo "== blocking-query fan-out: $WATCHERS watches on socat, on a server"
"$LOAD" fanout --addr "${S[1]}:8500" --service socat --check socat-ttl --check-addr $C:8500 --watchers "$WATCHERS" --rounds 5

printf 'socat.service.consul SRV\nsocat.service.consul A\n' >"$TMP/queries"
for target in "${S[1]}" $C; do
    echo "== DNS on $target:8600 (dnsperf, ${SECONDS_PER_RUN}s)"
    dnsperf -s "$target" -p 8600 -d "$TMP/queries" -l "$SECONDS_PER_RUN" -c 4 -T 2 -q 200 2>&1 \
        | grep -E "Queries per second|Average Latency|Queries lost|Queries completed" || true
done

echo "== /v1/catalog/services read: the same 1,000 names at growing instance counts (store, in-process)"
"$LOAD" services-list --instances 1000,10000,50000

echo "== health/service with and without ?filter= over 10,000 instances, on a server"
"$LOAD" health-filter --addr "${S[1]}:8500" --instances 10000 --seconds "$SECONDS_PER_RUN"
