-- wrk script: Tessera KV writes (PUT /v1/kv/<key>, raw value as body).
-- Each request puts a 256-byte value under a fresh random key "bench/<16 hex>".
-- Usage: wrk ... -s bench/lua/tessera-put.lua http://IP:8500 -- <seed> [<acl token>]
-- done() prints one machine-readable "WRK_RESULT ..." line parsed by bench/raft-writes.sh.

local VALUE_BYTES = 256

local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
end

local value
local headers = { ["Content-Type"] = "application/octet-stream" }

function init(args)
  local seed = tonumber(args[1] or "") or os.time()
  if args[2] and args[2] ~= "" then
    headers["X-Consul-Token"] = args[2]
  end
  math.randomseed(seed * 7919 + (tid or 0))
  local chars = {}
  for i = 1, VALUE_BYTES do
    chars[i] = string.char(math.random(33, 126))
  end
  value = table.concat(chars)
end

function request()
  local path = string.format("/v1/kv/bench/%04x%04x%04x%04x",
    math.random(0, 65535), math.random(0, 65535),
    math.random(0, 65535), math.random(0, 65535))
  return wrk.format("PUT", path, headers, value)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_RESULT requests=%d duration_us=%d non2xx=%d connect=%d read=%d write=%d timeout=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
