-- wrk script: etcd v3 JSON gateway writes (POST /v3/kv/put).
-- Each request puts a 256-byte value under a fresh random key "bench/<16 hex>".
-- Usage: wrk ... -s bench/lua/etcd-put.lua http://IP:2379 -- <seed>
-- done() prints one machine-readable "WRK_RESULT ..." line parsed by bench/raft-writes.sh.

local VALUE_BYTES = 256

local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function b64(s)
  local out = {}
  local n = #s
  for i = 1, n, 3 do
    local a, b, c = s:byte(i, i + 2)
    local v = a * 65536 + (b or 0) * 256 + (c or 0)
    local c1 = math.floor(v / 262144) % 64
    local c2 = math.floor(v / 4096) % 64
    local c3 = math.floor(v / 64) % 64
    local c4 = v % 64
    out[#out + 1] = b64chars:sub(c1 + 1, c1 + 1)
    out[#out + 1] = b64chars:sub(c2 + 1, c2 + 1)
    out[#out + 1] = b ~= nil and b64chars:sub(c3 + 1, c3 + 1) or "="
    out[#out + 1] = c ~= nil and b64chars:sub(c4 + 1, c4 + 1) or "="
  end
  return table.concat(out)
end

local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
end

local value_b64
local headers = { ["Content-Type"] = "application/json" }

function init(args)
  local seed = tonumber(args[1] or "") or os.time()
  math.randomseed(seed * 7919 + (tid or 0))
  local chars = {}
  for i = 1, VALUE_BYTES do
    chars[i] = string.char(math.random(33, 126))
  end
  value_b64 = b64(table.concat(chars))
end

function request()
  local key = string.format("bench/%04x%04x%04x%04x",
    math.random(0, 65535), math.random(0, 65535),
    math.random(0, 65535), math.random(0, 65535))
  local body = '{"key":"' .. b64(key) .. '","value":"' .. value_b64 .. '"}'
  return wrk.format("POST", "/v3/kv/put", headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_RESULT requests=%d duration_us=%d non2xx=%d connect=%d read=%d write=%d timeout=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
