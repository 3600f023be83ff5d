#!/usr/bin/env bash
# acl.sh — what ACLs cost: the same 3-server cluster on loopback, first
# with ACLs off, then on (default deny) with a non-management token, in one
# run. Two loads, each with wrk for SECONDS_PER_RUN at CONNS connections
# on the leader:
#   1. catalog reads: GET /v1/health/service/web over INSTANCES instances;
#   2. KV writes: PUT /v1/kv/bench/<random> (bench/lua/tessera-put.lua).
# Prints requests/s per mode and the ratio on/off (target: >= 0.9 each).
# Env: SECONDS_PER_RUN (default 10), CONNS (16), INSTANCES (100), KEEP_TMP=1.
set -Eeuo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
CONNS=${CONNS:-16}
INSTANCES=${INSTANCES:-100}
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
cargo build --release -q -p tessera
BIN=$PWD/target/release/tessera
source bench/lib.sh
ulimit -n "$(ulimit -Hn)"

MGMT=7b1d4c2e-5a3f-4e8b-9c6d-0f1e2d3c4b5a
S=(127.0.0.71 127.0.0.72 127.0.0.73)
ACL_HCL="acl {
  enabled = true
  default_policy = \"deny\"
  tokens {
    initial_management = \"$MGMT\"
  }
}"

stop_cluster() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    PIDS=()
    rm -rf "$TMP"/s[0-9]*
}

leader_ip() { curl -sf "http://${S[0]}:8500/v1/status/leader" | tr -d '"' | cut -d: -f1; }
has_leader() { [ -n "$(leader_ip 2>/dev/null)" ]; }

# A token as an application would hold one: read the catalog, write KV.
app_token() {
    local h=(-H "X-Consul-Token: $MGMT")
    local rules='key_prefix \"\" { policy = \"write\" }\nservice_prefix \"\" { policy = \"read\" }\nnode_prefix \"\" { policy = \"read\" }'
    curl -sf "${h[@]}" -X PUT "http://$1:8500/v1/acl/policy" -d "{\"Name\":\"app\",\"Rules\":\"$rules\"}" >/dev/null
    curl -sf "${h[@]}" -X PUT "http://$1:8500/v1/acl/token" -d '{"Policies":[{"Name":"app"}]}' | sed 's/.*"SecretID":"\([^"]*\)".*/\1/'
}

register_instances() {
    local i h=()
    [ -z "$2" ] || h=(-H "X-Consul-Token: $2")
    for i in $(seq 1 "$INSTANCES"); do
        curl -sf "${h[@]}" -X PUT "http://$1:8500/v1/catalog/register" \
            -d "{\"Node\":\"n$((i % 10))\",\"Address\":\"10.0.0.$((i % 10))\",\"Service\":{\"ID\":\"web$i\",\"Service\":\"web\",\"Port\":$((8000 + i))}}" >/dev/null
    done
}

# wrk_rate URL TOKEN [SCRIPT ARGS...]: requests/s (non-2xx answers fail the run).
wrk_rate() {
    local url=$1 token=$2 out
    shift 2
    local h=()
    [ -z "$token" ] || h=(-H "X-Consul-Token: $token")
    out=$(wrk -t2 -c"$CONNS" -d"${SECONDS_PER_RUN}s" "${h[@]}" "$@" "$url")
    if grep -q "Non-2xx" <<<"$out"; then echo "non-2xx answers: $out" >&2; exit 1; fi
    awk '/Requests\/sec/ {print $2}' <<<"$out"
}

wrk_writes() {
    local out
    out=$(wrk -t2 -c"$CONNS" -d"${SECONDS_PER_RUN}s" -s bench/lua/tessera-put.lua "http://$1:8500" -- 1 "$2")
    awk '/WRK_RESULT/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); r[kv[1]] = kv[2] }
        if (r["non2xx"] > 0) { print "non-2xx" > "/dev/stderr"; exit 1 }
        printf "%.0f\n", r["requests"] / (r["duration_us"] / 1e6) }' <<<"$out"
}

declare -A READS WRITES
for mode in off on; do
    SERVER_EXTRA=()
    [ "$mode" = off ] || SERVER_EXTRA=(-hcl "$ACL_HCL")
    start_servers "${S[@]}"
    wait_for 60 has_leader
    L=$(leader_ip)
    token=""
    if [ "$mode" = on ]; then
        wait_for 30 curl -sf -H "X-Consul-Token: $MGMT" "http://$L:8500/v1/acl/token/self" -o /dev/null
        token=$(app_token "$L")
    fi
    register_instances "$L" "$MGMT"
    READS[$mode]=$(wrk_rate "http://$L:8500/v1/health/service/web" "$token")
    WRITES[$mode]=$(wrk_writes "$L" "$token")
    echo "ACLs $mode: catalog reads ${READS[$mode]}/s, KV writes ${WRITES[$mode]}/s"
    stop_cluster
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "ratio on/off: catalog reads $(ratio "${READS[on]}" "${READS[off]}"), KV writes $(ratio "${WRITES[on]}" "${WRITES[off]}") (target >= 0.90)"
