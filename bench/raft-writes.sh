#!/usr/bin/env bash
# raft-writes.sh — replicated-write benchmark: 3-server Tessera vs 3-member etcd.
#
# What it does (one run, everything on loopback 127.0.0.x, all state in a temp dir):
#   1. starts a 3-server Tessera cluster on 127.0.0.21-23 (HTTP :8500, server RPC
#      :8300) and drives KV writes (PUT /v1/kv/<key>) with wrk at each load level;
#   2. SIGKILLs the Tessera leader while curl writes go to the two survivors and
#      measures kill -> first successful (2xx) write; stops the cluster;
#   3. the same for a 3-member etcd cluster on 127.0.0.31-33 (client :2379, peer
#      :2380), writes through etcd's JSON gateway (POST /v3/kv/put);
#   4. prints a table (conns, writes/s, p50, p99, errors, ratio Tessera/etcd) and
#      "failover: etcd X.XX s, tessera Y.YY s".
#   Steps 1-4 run once per mode in MODES, by default "tls" then "plain", and a last
#   table gives what TLS costs each product (writes/s and p99, tls against plain):
#     tls    Tessera: TLS on the server port (8300: Raft, forwarded writes, joins),
#              servers verifying each other's server.dc1.consul, with certificates
#              from `tessera tls ca create` / `tessera tls cert create -server`
#              (-ca-file -cert-file -key-file).
#            etcd: TLS on peer links (--peer-cert-file/--peer-key-file/
#              --peer-trusted-ca-file --peer-client-cert-auth) and on its client
#              port 2379 (--cert-file/--key-file/--trusted-ca-file --client-cert-auth),
#              with the same CA's certificates (IP SANs, which etcd checks).
#            The load itself is plain on both sides: wrk writes to Tessera's HTTP API
#              (:8500, which has no HTTPS listener yet: a loopback, plain hop), and wrk
#              cannot present a client certificate, so etcd also serves a plain
#              http://IP:2381 listener that wrk drives. The hop between servers, where
#              every write is replicated, is TLS on both. etcdctl (leader lookups) and
#              the failover writers talk to etcd over https with a client certificate.
#     plain  Tessera with -insecure-plaintext-rpc, etcd with http:// URLs only.
#   Every write is a 256-byte value under a fresh random key "bench/<16 hex>"
#   (bench/lua/etcd-put.lua, bench/lua/tessera-put.lua). wrk threads = min(conns, 2).
#   Requests/s, p50, p99 and error counts come from the WRK_RESULT line that the Lua
#   done() hook adds to wrk's output (same numbers as wrk's report, in µs); writes/s
#   counts 2xx answers only and any non-2xx / socket error is shown in the table.
#   The failover writers target followers, so Tessera followers must forward KV
#   writes to the leader (as etcd's do); TARGET=first relies on that as well.
#   By default the load is sent to the current Raft LEADER of each cluster (so
#   neither product pays a follower->leader forwarding hop); TARGET=first sends
#   it to the first node of each cluster (127.0.0.31 / 127.0.0.21) instead.
#   A trap kills every process the script started and deletes the temp dir on
#   exit, failure or Ctrl-C.
#
# Usage:
#   bench/raft-writes.sh [--only etcd|tessera|all] [-h|--help]
#
# Targets (the issue's): Tessera writes/s >= 1.5x etcd's at 16 and 64 connections
# with a p99 no worse, and leader kill -> first write <= 1.0 s; the report says
# MET or MISSED for each, per mode.
#
# Environment:
#   MODES             space-separated: tls, plain (default "tls plain")
#   DURATION          seconds per load level (default 10)
#   CONNS             space-separated connection counts (default "1 16 64")
#   TESSERA_BIN       tessera binary (default $REPO/target/release/tessera; if that
#                     default does not exist it is built with
#                     `cargo build --release -p tessera`)
#   ONLY              etcd | tessera | all (default all); same as --only
#   TARGET            leader | first (default leader): which node wrk drives
#   WARMUP            seconds of discarded warm-up load per product (default 2, 0 = off)
#   START_TIMEOUT     seconds to wait for a cluster to elect a leader (default 60)
#   FAILOVER_TIMEOUT  seconds to wait for the first write after the kill (default 30)
#   FAILOVER_INTERVAL seconds between write launches per surviving node during the
#                     failover test (default 0.05; each write is its own curl
#                     --max-time 1, so a write held by a leaderless follower does not
#                     delay the next one)
#   KEEP_TMP=1        keep the temp dir (logs, wrk output) instead of deleting it
#
# Requires: wrk, curl, jq, etcd, etcdctl (etcd-server / etcd-client packages); the
# tessera binary also makes the certificates of the tls mode, for etcd too.

set -Eeuo pipefail
export LC_ALL=C

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
LUA_DIR=$SCRIPT_DIR/lua

MODES=${MODES:-"tls plain"}
DURATION=${DURATION:-10}
CONNS=${CONNS:-"1 16 64"}
ONLY=${ONLY:-all}
TARGET=${TARGET:-leader}
WARMUP=${WARMUP:-2}
START_TIMEOUT=${START_TIMEOUT:-60}
FAILOVER_TIMEOUT=${FAILOVER_TIMEOUT:-30}
FAILOVER_INTERVAL=${FAILOVER_INTERVAL:-0.05}
KEEP_TMP=${KEEP_TMP:-0}
FAILOVER_MAX_WRITES=20000   # hard cap on writes per writer loop (besides its time bound)

ETCD_NAMES=(e1 e2 e3)
ETCD_IPS=(127.0.0.31 127.0.0.32 127.0.0.33)
TS_NODES=(n1 n2 n3)
TS_IPS=(127.0.0.21 127.0.0.22 127.0.0.23)

log() { printf '[raft-writes %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { printf 'raft-writes: error: %s\n' "$*" >&2; exit 1; }

usage() { sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

while (($#)); do
  case $1 in
    --only) [[ $# -ge 2 ]] || die "--only needs an argument"; ONLY=$2; shift 2 ;;
    --only=*) ONLY=${1#--only=}; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done

case $ONLY in etcd|tessera|all) ;; *) die "ONLY must be etcd, tessera or all (got '$ONLY')" ;; esac
case $TARGET in leader|first) ;; *) die "TARGET must be leader or first (got '$TARGET')" ;; esac
[[ $DURATION =~ ^[1-9][0-9]*$ ]] || die "DURATION must be a positive integer (seconds), got '$DURATION'"
[[ $WARMUP =~ ^[0-9]+$ ]] || die "WARMUP must be a non-negative integer, got '$WARMUP'"
[[ $START_TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "START_TIMEOUT must be a positive integer"
[[ $FAILOVER_TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "FAILOVER_TIMEOUT must be a positive integer"
[[ $FAILOVER_INTERVAL =~ ^(0\.[0-9]*[1-9][0-9]*|[1-9][0-9]*(\.[0-9]+)?)$ ]] ||
  die "FAILOVER_INTERVAL must be a positive number of seconds, got '$FAILOVER_INTERVAL'"
read -r -a MODE_LIST <<<"$MODES"
((${#MODE_LIST[@]} > 0)) || die "MODES is empty"
for m in "${MODE_LIST[@]}"; do
  [[ $m == tls || $m == plain ]] || die "MODES must be tls and/or plain, got '$m'"
done
read -r -a CONN_LIST <<<"$CONNS"
((${#CONN_LIST[@]} > 0)) || die "CONNS is empty"
for c in "${CONN_LIST[@]}"; do
  [[ $c =~ ^[1-9][0-9]*$ ]] || die "CONNS must be positive integers, got '$c'"
done

want() { [[ $ONLY == all || $ONLY == "$1" ]]; }

need=(curl jq wrk)
want etcd && need+=(etcd etcdctl)
for t in "${need[@]}"; do
  command -v "$t" >/dev/null 2>&1 || die "required tool '$t' not found in PATH"
done
[[ -n ${EPOCHREALTIME:-} ]] || die "bash >= 5 is required (EPOCHREALTIME)"
for f in etcd-put.lua tessera-put.lua; do
  [[ -r $LUA_DIR/$f ]] || die "missing wrk script $LUA_DIR/$f"
done

# ---------------------------------------------------------------- process bookkeeping
declare -A LIVE=()     # pid -> description, for every process still to be reaped
declare -A PID_OF=()   # "etcd:IP" / "tessera:IP" -> pid
TMP=""

track() { LIVE[$1]=$2; }

alive() {  # a child that exited but was not reaped yet is a zombie: not alive
  local st
  st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ -n $st && $st != Z* ]]
}

# stop_pids SIGNAL PID...: signal, wait up to STOP_GRACE (default 5) s, SIGKILL
# leftovers, reap, untrack.
stop_pids() {
  local sig=$1 pid i
  shift
  for pid in "$@"; do
    pkill "-$sig" -P "$pid" 2>/dev/null || true   # children (curl in writer loops)
    kill "-$sig" "$pid" 2>/dev/null || true
  done
  for ((i = 0; i < ${STOP_GRACE:-5} * 10; i++)); do
    local any=0
    for pid in "$@"; do alive "$pid" && any=1; done
    ((any)) || break
    sleep 0.1
  done
  for pid in "$@"; do
    if alive "$pid"; then
      pkill -KILL -P "$pid" 2>/dev/null || true
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
    unset "LIVE[$pid]"
  done
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  [[ -n $TMP && -d $TMP ]] && : >"$TMP/stop-writers"
  if ((${#LIVE[@]})); then
    log "cleanup: stopping ${#LIVE[@]} process(es)"
    stop_pids TERM "${!LIVE[@]}"
  fi
  if [[ -n $TMP && -d $TMP ]]; then
    if [[ $KEEP_TMP == 1 ]]; then
      log "keeping temp dir $TMP"
    else
      rm -rf -- "$TMP"
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'printf "raft-writes: error: command failed (line %s): %s\n" "$LINENO" "$BASH_COMMAND" >&2' ERR
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

TMP=$(mktemp -d "${TMPDIR:-/tmp}/raft-writes.XXXXXX")

# ---------------------------------------------------------------- helpers
port_busy() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

check_ports_free() {  # check_ports_free IP PORT...
  local ip=$1 p
  shift
  for p in "$@"; do
    if port_busy "$ip" "$p"; then
      die "$ip:$p is already in use (another etcd/tessera still running?)"
    fi
  done
}

show_log_tail() {  # show_log_tail FILE
  if [[ -s $1 ]]; then
    printf -- '--- last lines of %s ---\n' "$1" >&2
    tail -n 20 "$1" >&2
    printf -- '---\n' >&2
  else
    printf -- '--- %s is empty ---\n' "$1" >&2
  fi
}

fsub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", a - b }'; }
fgt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a > b) }'; }

# http_code METHOD URL [curl args...] -> prints the status code ("000" on no answer)
http_code() {
  local m=$1 u=$2
  shift 2
  curl -s -o /dev/null -w '%{http_code}' --max-time 2 -X "$m" "$@" "$u" 2>/dev/null || true
}

# value file shared by all writers: 256 printable bytes
head -c 192 /dev/urandom | base64 -w0 | head -c 256 >"$TMP/value.bin"
[[ $(wc -c <"$TMP/value.bin") -eq 256 ]] || die "could not build the 256-byte value"

# Every result is keyed by the mode it was measured in first ("tls:etcd:16").
declare -A RES=()        # "mode:product:conns" -> "ok_rps p50_ms p99_ms non2xx sockerr"
declare -A FAILOVER=()   # "mode:product" -> seconds or a message
declare -A TARGET_IP=()  # "mode:product" -> IP driven by wrk
declare -A NOTES=()      # "mode:product" -> extra remarks
declare -A FAILOVER_DETAIL=()  # "mode:product" -> failover details
MODE=""                  # the mode being measured: tls or plain

# ---------------------------------------------------------------- TLS material
CERTS=$TMP/certs
# make_certs: an agent CA, one server certificate per node pair (Tessera node i and
# etcd member i: its IPs as SANs, which etcd's peers and clients check; Tessera's
# servers check server.dc1.consul) and a client certificate for etcdctl and curl.
make_certs() {
  local i
  mkdir -p "$CERTS"
  (
    cd "$CERTS"
    "$TESSERA_BIN" tls ca create >/dev/null
    for i in 0 1 2; do
      "$TESSERA_BIN" tls cert create -server -additional-ipaddress "${TS_IPS[i]}" \
        -additional-ipaddress "${ETCD_IPS[i]}" >/dev/null
    done
    "$TESSERA_BIN" tls cert create -client >/dev/null
  ) || die "could not make the certificates with $TESSERA_BIN tls"
  CA=$CERTS/consul-agent-ca.pem
  CLIENT_CERT=$CERTS/dc1-client-consul-0.pem
  CLIENT_KEY=$CERTS/dc1-client-consul-0-key.pem
  for i in 0 1 2; do [[ -r $CERTS/dc1-server-consul-$i-key.pem ]] || die "missing server certificate $i"; done
  [[ -r $CLIENT_KEY ]] || die "missing the client certificate"
}
server_cert() { printf '%s/dc1-server-consul-%s.pem' "$CERTS" "$1"; }
server_key() { printf '%s/dc1-server-consul-%s-key.pem' "$CERTS" "$1"; }

# What each product's clients need in this mode: etcd's API (etcdctl, curl) is
# https with a client certificate under tls; wrk's load goes to a plain listener.
etcd_api_url() { if [[ $MODE == tls ]]; then printf 'https://%s:2379' "$1"; else printf 'http://%s:2379' "$1"; fi; }
etcd_load_url() { if [[ $MODE == tls ]]; then printf 'http://%s:2381' "$1"; else printf 'http://%s:2379' "$1"; fi; }
etcd_curl_tls() {  # fills ETCD_TLS with curl's TLS arguments for etcd's API
  ETCD_TLS=()
  [[ $MODE == tls ]] && ETCD_TLS=(--cacert "$CA" --cert "$CLIENT_CERT" --key "$CLIENT_KEY")
  return 0
}

# ---------------------------------------------------------------- product adapters
# write_args PRODUCT IP KEY -> fills the global array WARGS with curl args for one write
write_args() {
  local product=$1 ip=$2 key=$3
  case $product in
    etcd)
      local body=$TMP/put-body-${key//\//_}.json
      printf '{"key":"%s","value":"%s"}' "$(printf '%s' "$key" | base64 -w0)" \
        "$(base64 -w0 <"$TMP/value.bin")" >"$body"
      etcd_curl_tls
      WARGS=("${ETCD_TLS[@]}" -X POST -H 'Content-Type: application/json'
        --data-binary "@$body" "$(etcd_api_url "$ip")/v3/kv/put")
      ;;
    tessera)
      WARGS=(-X PUT --data-binary "@$TMP/value.bin" "http://$ip:8500/v1/kv/$key")
      ;;
  esac
}

# probe_write PRODUCT IP -> 0 if one write answers 2xx
probe_write() {
  local code
  write_args "$1" "$2" "probe/${2}"
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "${WARGS[@]}" 2>/dev/null || true)
  [[ $code == 2?? ]]
}

ips_of() {  # ips_of PRODUCT -> prints the 3 IPs
  case $1 in
    etcd) printf '%s\n' "${ETCD_IPS[@]}" ;;
    tessera) printf '%s\n' "${TS_IPS[@]}" ;;
  esac
}

alive_ips() {  # alive_ips PRODUCT -> IPs whose process is running
  local ip
  while read -r ip; do
    [[ -n ${PID_OF[$1:$ip]:-} ]] && alive "${PID_OF[$1:$ip]}" && printf '%s\n' "$ip"
  done < <(ips_of "$1")
  return 0
}

# leader_ip PRODUCT -> IP of the current leader (empty if none / unknown)
leader_ip() {
  local product=$1 ip eps="" out
  case $product in
    etcd)
      while read -r ip; do eps+="$(etcd_api_url "$ip"),"; done < <(alive_ips etcd)
      [[ -n $eps ]] || return 0
      local tls=()
      [[ $MODE == tls ]] && tls=(--cacert "$CA" --cert "$CLIENT_CERT" --key "$CLIENT_KEY")
      # member ids are uint64: quote them before jq (jq 1.6 would round them to doubles)
      out=$(etcdctl "${tls[@]}" --endpoints="${eps%,}" --dial-timeout=1s --command-timeout=2s \
        endpoint status -w json 2>/dev/null |
        sed -E 's/"(cluster_id|member_id|leader)":([0-9]+)/"\1":"\2"/g' |
        jq -r '.[] | select(.Status.leader != "0" and .Status.leader == .Status.header.member_id)
                   | .Endpoint' 2>/dev/null | head -n1) || true
      out=${out#*://}
      printf '%s' "${out%%:*}"
      ;;
    tessera)
      while read -r ip; do
        out=$(curl -s --max-time 1 "http://$ip:8500/v1/status/leader" 2>/dev/null |
          jq -r 'if type == "string" then . else "" end' 2>/dev/null) || true
        if [[ -n $out ]]; then
          printf '%s' "${out%:*}"
          return 0
        fi
      done < <(alive_ips tessera)
      ;;
  esac
}

check_all_alive() {  # check_all_alive PRODUCT WHAT -> dies with logs if a node exited
  local product=$1 what=$2 ip pid
  while read -r ip; do
    pid=${PID_OF[$product:$ip]}
    if ! alive "$pid"; then
      local rc=0
      wait "$pid" 2>/dev/null || rc=$?
      unset "LIVE[$pid]"
      show_log_tail "$TMP/$MODE-$product-$ip.log"
      die "$product node $ip (pid $pid) exited with status $rc $what; log above"
    fi
  done < <(ips_of "$product")
}

# ---------------------------------------------------------------- cluster start/stop
# etcd_tls_args I: fills ETCD_ARGS with member I's TLS flags (none in plain mode)
etcd_tls_args() {
  local i=$1
  ETCD_ARGS=()
  [[ $MODE == tls ]] || return 0
  ETCD_ARGS=(--peer-cert-file "$(server_cert "$i")" --peer-key-file "$(server_key "$i")"
    --peer-trusted-ca-file "$CA" --peer-client-cert-auth
    --cert-file "$(server_cert "$i")" --key-file "$(server_key "$i")"
    --trusted-ca-file "$CA" --client-cert-auth)
}

start_etcd() {
  local i ip name cluster="" peer=http clients
  [[ $MODE == tls ]] && peer=https
  for i in 0 1 2; do cluster+="${ETCD_NAMES[i]}=$peer://${ETCD_IPS[i]}:2380,"; done
  cluster=${cluster%,}
  for i in 0 1 2; do check_ports_free "${ETCD_IPS[i]}" 2379 2380 2381; done
  for i in 0 1 2; do
    ip=${ETCD_IPS[i]} name=${ETCD_NAMES[i]}
    mkdir -p "$TMP/$MODE-etcd-data/$name"
    etcd_tls_args "$i"
    clients=$(etcd_api_url "$ip")
    # under tls, a plain listener beside the https one, for wrk (see the header)
    [[ $MODE == tls ]] && clients+=",$(etcd_load_url "$ip")"
    etcd --name "$name" --data-dir "$TMP/$MODE-etcd-data/$name" "${ETCD_ARGS[@]}" \
      --listen-client-urls "$clients" --advertise-client-urls "$(etcd_api_url "$ip")" \
      --listen-peer-urls "$peer://$ip:2380" --initial-advertise-peer-urls "$peer://$ip:2380" \
      --initial-cluster "$cluster" --initial-cluster-state new \
      --initial-cluster-token "raft-writes-$$-$MODE" \
      --logger zap --log-outputs stderr --log-level warn \
      >"$TMP/$MODE-etcd-$ip.log" 2>&1 &
    PID_OF[etcd:$ip]=$!
    track $! "etcd $name"
  done
  log "etcd: started pids ${PID_OF[etcd:${ETCD_IPS[0]}]} ${PID_OF[etcd:${ETCD_IPS[1]}]} ${PID_OF[etcd:${ETCD_IPS[2]}]}"
}

start_tessera() {
  local i j ip node joins tls
  for i in 0 1 2; do check_ports_free "${TS_IPS[i]}" 8500 8300; done
  for i in 0 1 2; do
    ip=${TS_IPS[i]} node=${TS_NODES[i]}
    joins=()
    for j in 0 1 2; do ((j == i)) || joins+=(-retry-join "${TS_IPS[j]}:8300"); done
    mkdir -p "$TMP/$MODE-tessera-data/$node"
    if [[ $MODE == tls ]]; then
      tls=(-ca-file "$CA" -cert-file "$(server_cert "$i")" -key-file "$(server_key "$i")")
    else
      tls=(-insecure-plaintext-rpc)
    fi
    "$TESSERA_BIN" agent -server -bootstrap-expect 3 -node "$node" \
      -data-dir "$TMP/$MODE-tessera-data/$node" -bind "$ip" -client "$ip" \
      -http-port 8500 -server-port 8300 "${joins[@]}" "${tls[@]}" -log-level warn \
      >"$TMP/$MODE-tessera-$ip.log" 2>&1 &
    PID_OF[tessera:$ip]=$!
    track $! "tessera $node"
  done
  log "tessera: started pids ${PID_OF[tessera:${TS_IPS[0]}]} ${PID_OF[tessera:${TS_IPS[1]}]} ${PID_OF[tessera:${TS_IPS[2]}]}"
}

# wait_ready PRODUCT: leader elected and accepting writes, within START_TIMEOUT
wait_ready() {
  local product=$1 end=$((SECONDS + START_TIMEOUT)) leader="" first
  first=$(ips_of "$product" | head -n1)
  while :; do
    check_all_alive "$product" "during startup"
    if [[ $product == tessera ]]; then
      # contract: ready when node 1's /v1/status/leader is a non-empty string
      leader=$(curl -s --max-time 1 "http://$first:8500/v1/status/leader" 2>/dev/null |
        jq -r 'if type == "string" then . else "" end' 2>/dev/null || true)
      leader=${leader%:*}
    else
      leader=$(leader_ip etcd)
    fi
    if [[ -n $leader && -z ${PID_OF[$product:$leader]:-} ]]; then
      die "$product: reported leader '$leader' is not one of the addresses this script started ($(ips_of "$product" | tr '\n' ' '))"
    fi
    if [[ -n $leader ]] && probe_write "$product" "$leader"; then
      log "$product: ready, leader $leader"
      return 0
    fi
    if ((SECONDS >= end)); then
      local ip
      while read -r ip; do show_log_tail "$TMP/$MODE-$product-$ip.log"; done < <(ips_of "$product")
      die "$product: no leader / no successful write within ${START_TIMEOUT}s (leader='${leader}')"
    fi
    sleep 0.2
  done
}

stop_cluster() {
  local product=$1 ip pids=()
  while read -r ip; do
    local pid=${PID_OF[$product:$ip]:-}
    [[ -n $pid && -n ${LIVE[$pid]:-} ]] && pids+=("$pid")
  done < <(ips_of "$product")
  # no need for a graceful shutdown here (an etcd leader would try to hand over
  # leadership to a peer that is also stopping): 2 s grace, then SIGKILL
  ((${#pids[@]} == 0)) || STOP_GRACE=2 stop_pids TERM "${pids[@]}"
  log "$product: cluster stopped"
}

# ---------------------------------------------------------------- load
# run_wrk PRODUCT IP CONNS SECONDS OUTFILE -> sets WRK_LINE to the WRK_RESULT line
# (not run in $(...), so the wrk pid stays known to the cleanup trap)
run_wrk() {
  local product=$1 ip=$2 conns=$3 secs=$4 out=$5 url lua threads seed pid rc=0
  case $product in
    etcd) url=$(etcd_load_url "$ip") lua=$LUA_DIR/etcd-put.lua ;;
    tessera) url="http://$ip:8500" lua=$LUA_DIR/tessera-put.lua ;;
  esac
  threads=$((conns < 2 ? conns : 2))
  seed=$((RANDOM * 32768 + RANDOM))
  wrk -t"$threads" -c"$conns" -d"${secs}s" --timeout 5s --latency -s "$lua" "$url" -- "$seed" \
    >"$out" 2>&1 &
  pid=$!
  track "$pid" "wrk $MODE $product c=$conns"
  wait "$pid" || rc=$?
  unset "LIVE[$pid]"
  if ((rc != 0)) || ! grep -q '^WRK_RESULT ' "$out"; then
    cat "$out" >&2
    check_all_alive "$product" "during the load run"
    die "wrk against $product $url failed (exit $rc)"
  fi
  WRK_LINE=$(grep '^WRK_RESULT ' "$out" | tail -n1)
}

bench_product() {
  local product=$1 ip c out line first
  first=$(ips_of "$product" | head -n1)
  if [[ $TARGET == leader ]]; then
    ip=$(leader_ip "$product")
    [[ -n $ip ]] || die "$product: cannot determine the leader"
  else
    ip=$first
  fi
  TARGET_IP[$MODE:$product]=$ip
  log "$MODE $product: load target $ip ($TARGET)"
  local end=$((SECONDS + 15))
  until probe_write "$product" "$ip"; do
    ((SECONDS < end)) || die "$product: target $ip does not accept writes (a follower must forward them)"
    sleep 0.2
  done
  if ((WARMUP > 0)); then
    log "$product: warm-up ${WARMUP}s"
    run_wrk "$product" "$ip" "${CONN_LIST[-1]}" "$WARMUP" "$TMP/wrk-$MODE-$product-warmup.txt"
  fi
  for c in "${CONN_LIST[@]}"; do
    out=$TMP/wrk-$MODE-$product-c$c.txt
    log "$MODE $product: ${DURATION}s at $c connection(s)"
    run_wrk "$product" "$ip" "$c" "$DURATION" "$out"
    line=$WRK_LINE
    # WRK_RESULT requests= duration_us= non2xx= connect= read= write= timeout= p50_us= p99_us=
    RES[$MODE:$product:$c]=$(awk '{
        for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        ok = v["requests"] - v["non2xx"]
        printf "%.1f %.2f %.2f %d %d\n", ok / (v["duration_us"] / 1e6),
          v["p50_us"] / 1000, v["p99_us"] / 1000, v["non2xx"],
          v["connect"] + v["read"] + v["write"] + v["timeout"]
      }' <<<"$line")
    log "$MODE $product: c=$c -> ${RES[$MODE:$product:$c]} (ok/s p50ms p99ms non2xx sockerr)"
    check_all_alive "$product" "during the load run"
  done
  if [[ $TARGET == leader ]]; then
    local now
    now=$(leader_ip "$product")
    if [[ $now != "$ip" ]]; then
      NOTES[$MODE:$product]+="leader changed during the load runs ($ip -> ${now:-none}); "
      log "$product: WARNING leader changed during the load runs ($ip -> ${now:-none})"
    fi
  fi
}

# ---------------------------------------------------------------- failover
# wlogs PRODUCT [IP]: concatenated writer logs (nothing if none exist yet)
wlogs() {
  local f
  for f in "$TMP/failover-$MODE-$1-"${2:-*}.log; do
    [[ -f $f ]] && cat "$f"
  done
  return 0
}

# writer PRODUCT IP: launches one write every FAILOVER_INTERVAL s, each in its own
# background curl (--max-time 1) that appends "t_start t_end http_code" to the log.
# Overlapping writes keep the resolution at FAILOVER_INTERVAL even while writes hang.
# Bounded by FAILOVER_MAX_WRITES launches and by time; stops when stop-writers exists,
# after waiting for its in-flight writes (each at most 1 s).
writer() {
  local product=$1 ip=$2 out=$TMP/failover-$MODE-$1-$2.log
  local deadline=$((SECONDS + FAILOVER_TIMEOUT + 40)) count=0
  write_args "$product" "$ip" "failover/$ip"
  : >"$out"
  trap 'kill $(jobs -p) 2>/dev/null; exit 143' TERM
  while [[ ! -e $TMP/stop-writers ]] && ((count < FAILOVER_MAX_WRITES && SECONDS < deadline)); do
    {
      t0=$EPOCHREALTIME
      code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "${WARGS[@]}" 2>/dev/null) || true
      printf '%s %s %s\n' "$t0" "$EPOCHREALTIME" "${code:-000}" >>"$out"
    } &
    count=$((count + 1))
    sleep "$FAILOVER_INTERVAL"
  done
  wait
}

# stop_writers PID...: ask the loops to stop, give in-flight writes time to finish, then kill
stop_writers() {
  local i pid any
  : >"$TMP/stop-writers"
  for ((i = 0; i < 30; i++)); do
    any=0
    for pid in "$@"; do alive "$pid" && any=1; done
    ((any)) || break
    sleep 0.1
  done
  stop_pids TERM "$@"
}

failover_product() {
  local product=$1 leader pid ip wpids=() survivors=() end t_kill result new_leader
  leader=$(leader_ip "$product")
  [[ -n $leader ]] || die "$product: cannot determine the leader for the failover test"
  pid=${PID_OF[$product:$leader]:-}
  [[ -n $pid ]] || die "$product: leader $leader is not one of the nodes this script started"
  while read -r ip; do [[ $ip == "$leader" ]] || survivors+=("$ip"); done < <(alive_ips "$product")
  ((${#survivors[@]} == 2)) || die "$product: expected 2 surviving nodes, have ${#survivors[@]}"

  rm -f "$TMP/stop-writers"
  for ip in "${survivors[@]}"; do
    writer "$product" "$ip" 2>>"$TMP/writer-$MODE-$product-$ip.err" &
    wpids+=($!)
    track $! "writer $product $ip"
  done

  # steady state first: every survivor has had successful writes
  end=$((SECONDS + 15))
  while :; do
    local okall=1
    for ip in "${survivors[@]}"; do
      local cnt
      cnt=$(wlogs "$product" "$ip" | awk '$3 ~ /^2/' | wc -l)
      ((cnt >= 3)) || okall=0
    done
    ((okall)) && break
    if ((SECONDS >= end)); then
      stop_writers "${wpids[@]}"
      for ip in "${survivors[@]}"; do
        echo "HTTP codes seen by writers on $ip:" >&2
        wlogs "$product" "$ip" | awk '{ print $3 }' | sort | uniq -c >&2
      done
      die "$product: writes to the followers ${survivors[*]} did not succeed before the kill" \
        "(the failover test writes to followers, which must forward to the leader)"
    fi
    sleep 0.1
  done

  log "$product: SIGKILL leader $leader (pid $pid); writers on ${survivors[*]}"
  t_kill=$EPOCHREALTIME
  kill -KILL "$pid"
  wait "$pid" 2>/dev/null || true
  unset "LIVE[$pid]"

  end=$((SECONDS + FAILOVER_TIMEOUT))
  result=""
  while ((SECONDS < end)); do
    result=$(wlogs "$product" |
      awk -v k="$t_kill" '$1 >= k && $3 ~ /^2/ { if (m == "" || $2 < m) m = $2 } END { if (m != "") printf "%.6f", m }')
    [[ -n $result ]] && break
    sleep 0.1
  done
  # let writes in flight finish (<= 1 s each), so an earlier completion is not missed
  stop_writers "${wpids[@]}"
  result=$(wlogs "$product" |
    awk -v k="$t_kill" '$1 >= k && $3 ~ /^2/ { if (m == "" || $2 < m) m = $2 } END { if (m != "") printf "%.6f", m }')

  # attempts that ended after the kill and before the first success, and the longest
  # attempt that overlapped that window (followers may hold a write instead of failing it)
  local stats failed longest
  stats=$(wlogs "$product" |
    awk -v k="$t_kill" -v r="${result:-9e18}" '
      $2 >= k && $1 <= r { if ($2 - $1 > l) l = $2 - $1 }
      $2 >= k && $2 <= r && $3 !~ /^2/ { f++ }
      END { printf "%d %.2f", f, l }')
  read -r failed longest <<<"$stats"
  new_leader=$(leader_ip "$product")
  if [[ -n $result ]]; then
    FAILOVER[$MODE:$product]=$(awk -v a="$result" -v b="$t_kill" 'BEGIN { printf "%.2f", a - b }')
    log "$product: first successful write $(fsub "$result" "$t_kill") s after the kill"
  else
    FAILOVER[$MODE:$product]=">${FAILOVER_TIMEOUT}"
    NOTES[$MODE:$product]+="no successful write within ${FAILOVER_TIMEOUT}s after killing the leader; "
    log "$product: WARNING no successful write within ${FAILOVER_TIMEOUT}s after the kill"
  fi
  FAILOVER_DETAIL[$MODE:$product]="killed $leader; $failed failed attempt(s) before the first success;\
 longest write in flight ${longest} s; new leader ${new_leader:-unknown}"
  log "$MODE $product: ${FAILOVER_DETAIL[$MODE:$product]}"
}

# ---------------------------------------------------------------- tessera binary
resolve_tessera_bin() {
  if [[ -n ${TESSERA_BIN:-} ]]; then
    [[ -e $TESSERA_BIN ]] || die "TESSERA_BIN=$TESSERA_BIN does not exist"
  else
    TESSERA_BIN=$REPO/target/release/tessera
    if [[ ! -e $TESSERA_BIN ]]; then
      command -v cargo >/dev/null 2>&1 || die "$TESSERA_BIN missing and cargo not found"
      log "building tessera (cargo build --release -p tessera)"
      (cd "$REPO" && ROCKSDB_LIB_DIR=/usr/lib/x86_64-linux-gnu ROCKSDB_INCLUDE_DIR=/usr/include \
        cargo build --release -p tessera) || die "cargo build --release -p tessera failed"
      [[ -e $TESSERA_BIN ]] || die "cargo build finished but $TESSERA_BIN does not exist"
    fi
  fi
  [[ -f $TESSERA_BIN && -x $TESSERA_BIN ]] || die "tessera binary $TESSERA_BIN is not an executable file"
}

# ---------------------------------------------------------------- main
tls_wanted() { [[ " ${MODE_LIST[*]} " == *" tls "* ]]; }
# build before any cluster runs, not during a measurement; under tls it makes etcd's
# certificates too
if want tessera || tls_wanted; then resolve_tessera_bin; fi
if tls_wanted; then make_certs; fi

log "temp dir $TMP; MODES='${MODES}' DURATION=${DURATION}s CONNS='${CONNS}' ONLY=$ONLY TARGET=$TARGET"

# run_mode MODE: both products, one after the other, in that mode. Tessera first:
# if the binary under development cannot start, fail before spending a whole etcd
# run. The two clusters never run at the same time.
run_mode() {
  MODE=$1
  local p
  for p in tessera etcd; do
    want "$p" || continue
    "start_$p"
    wait_ready "$p"
    bench_product "$p"
    failover_product "$p"
    stop_cluster "$p"
  done
}
for m in "${MODE_LIST[@]}"; do run_mode "$m"; done

# ---------------------------------------------------------------- report
cell() {  # cell MODE PRODUCT CONNS FIELD(1..5) -> value or "-"
  local v=${RES[$1:$2:$3]:-}
  if [[ -z $v ]]; then printf -- '-'; else awk -v f="$4" '{ printf "%s", $f }' <<<"$v"; fi
}
ratio() {  # ratio A B -> A/B with 2 decimals, or n/a
  if [[ $1 != - && $2 != - ]] && fgt "$2" 0; then
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
  else
    printf 'n/a'
  fi
}

fo() {  # fo MODE PRODUCT
  local v=${FAILOVER[$1:$2]:-}
  if ! want "$2"; then printf 'n/a (skipped)'
  elif [[ -z $v ]]; then printf 'n/a'
  elif [[ $v == '>'* ]]; then printf '%s s (NO successful write)' "$v"
  else printf '%s s' "$v"; fi
}

errors=0
# report_mode MODE: the table of one mode, its failover times and its targets
report_mode() {
  local m=$1 c e_rps t_rps e_err t_err p
  echo
  case $m in
    tls) echo "== tls: TLS between servers on both (Tessera :8300, etcd peers :2380, mutual); etcd's client port https with client certs; wrk's load hop plain on both (Tessera HTTP API :8500, etcd :2381)" ;;
    plain) echo "== plain: no TLS anywhere (Tessera -insecure-plaintext-rpc, etcd http:// URLs)" ;;
  esac
  echo "Replicated KV writes, 256-byte values, random keys; ${DURATION}s per level; wrk threads = min(conns, 2)"
  if [[ $TARGET == leader ]]; then
    echo "Load target: the Raft LEADER of each cluster (etcd ${TARGET_IP[$m:etcd]:-n/a}, tessera ${TARGET_IP[$m:tessera]:-n/a})"
  else
    echo "Load target: the FIRST node of each cluster (etcd ${TARGET_IP[$m:etcd]:-n/a}, tessera ${TARGET_IP[$m:tessera]:-n/a})"
  fi
  echo "writes/s counts 2xx answers only; p50/p99 in ms over all answers; err = non-2xx + socket errors"
  echo "All servers and wrk share $(nproc) CPU(s) on one host; storage under ${TMPDIR:-/tmp}."
  echo
  printf '%6s | %10s %8s %8s %6s | %10s %8s %8s %6s | %13s\n' \
    conns "etcd w/s" p50 p99 err "tessera w/s" p50 p99 err "tessera/etcd"
  printf '%s\n' "-------+-------------------------------------+-------------------------------------+--------------"
  for c in "${CONN_LIST[@]}"; do
    e_rps=$(cell "$m" etcd "$c" 1) t_rps=$(cell "$m" tessera "$c" 1)
    e_err=- t_err=-
    [[ -n ${RES[$m:etcd:$c]:-} ]] && e_err=$(($(cell "$m" etcd "$c" 4) + $(cell "$m" etcd "$c" 5)))
    [[ -n ${RES[$m:tessera:$c]:-} ]] && t_err=$(($(cell "$m" tessera "$c" 4) + $(cell "$m" tessera "$c" 5)))
    [[ $e_err != - && $e_err -gt 0 ]] && errors=1
    [[ $t_err != - && $t_err -gt 0 ]] && errors=1
    printf '%6s | %10s %8s %8s %6s | %10s %8s %8s %6s | %13s\n' "$c" \
      "$e_rps" "$(cell "$m" etcd "$c" 2)" "$(cell "$m" etcd "$c" 3)" "$e_err" \
      "$t_rps" "$(cell "$m" tessera "$c" 2)" "$(cell "$m" tessera "$c" 3)" "$t_err" "$(ratio "$t_rps" "$e_rps")"
  done
  echo
  echo "failover: etcd $(fo "$m" etcd), tessera $(fo "$m" tessera)"
  echo "  (SIGKILL of the leader -> first 2xx write started after the kill on a surviving node;"
  echo "   one curl --max-time 1 write launched every ${FAILOVER_INTERVAL}s per survivor)"
  for p in etcd tessera; do
    [[ -n ${FAILOVER_DETAIL[$m:$p]:-} ]] && echo "  $p: ${FAILOVER_DETAIL[$m:$p]}"
    [[ -n ${NOTES[$m:$p]:-} ]] && echo "NOTE $p: ${NOTES[$m:$p]%; }"
  done
  report_targets "$m"
}

# report_targets MODE: the issue's targets, MET or MISSED (nothing when a product was skipped)
report_targets() {
  local m=$1 c r verdict fo_t
  want etcd && want tessera || return 0
  for c in 16 64; do
    [[ -n ${RES[$m:etcd:$c]:-} && -n ${RES[$m:tessera:$c]:-} ]] || continue
    r=$(ratio "$(cell "$m" tessera "$c" 1)" "$(cell "$m" etcd "$c" 1)")
    verdict=MISSED
    if [[ $r != n/a ]] && ! fgt 1.5 "$r" && ! fgt "$(cell "$m" tessera "$c" 3)" "$(cell "$m" etcd "$c" 3)"; then
      verdict=MET
    fi
    echo "target c=$c: tessera >= 1.5x etcd writes/s (${r}x) with p99 no worse ($(cell "$m" tessera "$c" 3) vs $(cell "$m" etcd "$c" 3) ms): $verdict"
  done
  fo_t=${FAILOVER[$m:tessera]:-}
  verdict=MISSED
  [[ -n $fo_t && $fo_t != '>'* ]] && ! fgt "$fo_t" 1.0 && verdict=MET
  echo "target: tessera leader kill -> first write <= 1.0 s (${fo_t:-n/a} s): $verdict"
}

# report_cost: what TLS costs each product, when both modes ran
report_cost() {
  local p c plain tls
  [[ " ${MODE_LIST[*]} " == *" tls "* && " ${MODE_LIST[*]} " == *" plain "* ]] || return 0
  echo
  echo "== cost of TLS (tls against plain, same product): writes/s ratio and p99 in ms"
  printf '%6s | %-8s %10s %10s %7s | %9s %9s\n' conns product "plain w/s" "tls w/s" "tls/pl" "plain p99" "tls p99"
  printf '%s\n' "-------+---------------------------------------+--------------------"
  for c in "${CONN_LIST[@]}"; do
    for p in etcd tessera; do
      want "$p" || continue
      plain=$(cell plain "$p" "$c" 1) tls=$(cell tls "$p" "$c" 1)
      printf '%6s | %-8s %10s %10s %7s | %9s %9s\n' "$c" "$p" "$plain" "$tls" "$(ratio "$tls" "$plain")" \
        "$(cell plain "$p" "$c" 3)" "$(cell tls "$p" "$c" 3)"
    done
  done
}

for m in "${MODE_LIST[@]}"; do report_mode "$m"; done
report_cost
if ((errors)); then
  echo "WARNING: some requests failed (err column > 0); see the wrk output for details."
fi
