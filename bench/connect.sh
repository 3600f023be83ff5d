#!/usr/bin/env bash
# connect.sh — Connect control-plane benchmarks on loopback, release builds:
# 3 servers (127.0.0.71-73) and 10 client agents (127.0.0.81-90), each
# client with a service "bench" registered.
#   1. leaf signing: CSRs/s signed by the leader, sent through a follower's
#      AgentApi as client c1 (target >= 5,000/s; Consul's default limit is 50/s);
#   2. intention propagation: an intention flipped on a server, time until
#      each of the 10 client agents' local copies (which answer
#      /v1/agent/connect/authorize) has it (target p99 <= 50 ms).
# Env: SECONDS_PER_RUN (default 10), ROUNDS (40), KEEP_TMP=1.
set -Eeuo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
ROUNDS=${ROUNDS:-40}
cargo build --release -q -p tessera -p tessera-bench
BIN=target/release/tessera
LOAD=target/release/tessera-bench
source bench/lib.sh

S=(127.0.0.71 127.0.0.72 127.0.0.73)
start_servers "${S[@]}"
mkdir -p "$TMP/c.d"
echo '{"service": {"name": "bench", "port": 9999}}' >"$TMP/c.d/bench.json"
CLIENTS=()
for n in $(seq 1 10); do
    ip=127.0.0.$((80 + n))
    start_client "c$n" "$ip" "${S[$(( n % 3 ))]}"
    CLIENTS+=(--client "$ip:8502")
done

clients_ready() {
    [ "$(curl -sf "http://${S[0]}:8500/v1/catalog/service/bench" | grep -o '"Node"' | wc -l)" = 10 ] \
        && curl -sf "http://127.0.0.90:8500/v1/agent/connect/ca/leaf/bench" >/dev/null
}
wait_for 90 clients_ready
LEADER=$(curl -sf "http://${S[0]}:8500/v1/status/leader" | tr -d '"' | cut -d: -f1)
FOLLOWER=${S[0]}
[ "$FOLLOWER" != "$LEADER" ] || FOLLOWER=${S[1]}

echo "== leaf signing: CSRs through follower $FOLLOWER to leader $LEADER (${SECONDS_PER_RUN}s)"
"$LOAD" sign --rpc "$FOLLOWER:8300" --http "$FOLLOWER:8500" --node c1 --service bench \
    --seconds "$SECONDS_PER_RUN" --concurrency 64
echo "== leaf signing: CSRs straight to the leader $LEADER (${SECONDS_PER_RUN}s)"
"$LOAD" sign --rpc "$LEADER:8300" --http "$LEADER:8500" --node c1 --service bench \
    --seconds "$SECONDS_PER_RUN" --concurrency 64
echo "== intention write -> 10 client agents' copies ($ROUNDS writes)"
"$LOAD" intentions --server "$FOLLOWER:8500" "${CLIENTS[@]}" --service bench --rounds "$ROUNDS"
