-- Shared by the bench's wrk scripts (loaded with dofile from each one):
-- keys and values, base64 for etcd's JSON gateway, a monotonic clock for
-- cycle latencies, and a done() that prints one line of JSON the bench
-- parses ("BENCH_JSON {...}").
--
-- Script arguments (after "--" on wrk's command line):
--   value=<bytes>       value size for puts (default 16)
--   consistency=<mode>  linearizable (default) or serializable, for gets
--   keys=<n>            keys k0 .. k<n-1> (default 1000)
--   prefix=<text>       lock names start bench-lock-<text>- (one per row,
--                       so a cycle cut short in one row blocks no other)
--   token=<jwt>         raftlock scripts: send Authorization: Bearer <jwt>

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")

-- Microseconds on CLOCK_MONOTONIC (1 on Linux).
function now_us()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) * 1e6 + tonumber(ts.tv_nsec) / 1e3
end

-- key=value arguments into a table.
function parse_args(args)
  local o = {}
  for _, a in ipairs(args or {}) do
    local k, v = a:match("^([%w_]+)=(.*)$")
    if k then o[k] = v end
  end
  o.value = tonumber(o.value) or 16
  o.keys = tonumber(o.keys) or 1000
  o.consistency = o.consistency or "linearizable"
  return o
end

-- `headers` plus Authorization: Bearer <token> when the arguments hold a
-- token (a new table; nil headers count as none).
function with_auth(o, headers)
  local h = {}
  for k, v in pairs(headers or {}) do h[k] = v end
  if o.token and o.token ~= "" then h["Authorization"] = "Bearer " .. o.token end
  return h
end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

function base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local q = {}
    for j = 1, 4 do
      local idx = math.floor(n / 2 ^ (6 * (4 - j))) % 64
      q[j] = B64:sub(idx + 1, idx + 1)
    end
    if not b then q[3] = "=" end
    if not c then q[4] = "=" end
    out[#out + 1] = table.concat(q)
  end
  return table.concat(out)
end

JSON = { ["Content-Type"] = "application/json" }

-- Per-thread bookkeeping, read back in done() through thread:get().
ops = 0         -- completed operations (requests, or whole lock cycles)
aborted = 0     -- lock cycles given up after a failed step
cycle_lat = {}  -- lock cycle latencies in µs
first_error = nil

function record_cycle(t0)
  ops = ops + 1
  cycle_lat[#cycle_lat + 1] = now_us() - t0
end

function note_error(what, status, body)
  if not first_error then
    first_error = what .. ": " .. tostring(status) .. " " .. tostring(body):sub(1, 160)
  end
end

local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
  thread:set("thread_id", #threads)
end

local function percentile(sorted, p)
  if #sorted == 0 then return 0 end
  local i = math.floor(p / 100 * #sorted) + 1
  if i > #sorted then i = #sorted end
  return sorted[i]
end

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return string.format("\\u%04x", c:byte())
  end) .. '"'
end

-- CPU seconds this wrk process has used (all threads), from /proc/self/stat
-- (utime and stime, in ticks of 1/100 s on Linux).
local function cpu_seconds()
  local f = io.open("/proc/self/stat", "r")
  if not f then return -1 end
  local stat = f:read("*l")
  f:close()
  -- Fields after the command name (which may hold spaces) start at 3.
  local rest = stat:match("^%d+ %b() (.*)$")
  local fields = {}
  for x in rest:gmatch("%S+") do fields[#fields + 1] = x end
  return (tonumber(fields[12]) + tonumber(fields[13])) / 100
end

function done(summary, latency, requests)
  local e = summary.errors
  local counted, cycles, lats, aborts, err = false, 0, {}, 0, nil
  for _, t in ipairs(threads) do
    local n = t:get("ops") or 0
    if t:get("counts_cycles") then counted = true end
    cycles = cycles + n
    aborts = aborts + (t:get("aborted") or 0)
    for _, v in ipairs(t:get("cycle_lat") or {}) do lats[#lats + 1] = v end
    err = err or t:get("first_error")
  end
  table.sort(lats)
  local out = {
    '"requests":' .. summary.requests,
    '"duration_us":' .. summary.duration,
    '"bytes":' .. summary.bytes,
    string.format('"cpu_s":%.2f', cpu_seconds()),
    string.format('"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}',
      e.connect, e.read, e.write, e.status, e.timeout),
    string.format('"latency_us":{"p50":%.1f,"p90":%.1f,"p99":%.1f,"max":%.1f,"mean":%.1f}',
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean),
  }
  if counted then
    out[#out + 1] = '"cycles":' .. cycles
    out[#out + 1] = '"aborted":' .. aborts
    out[#out + 1] = string.format(
      '"cycle_latency_us":{"p50":%.1f,"p90":%.1f,"p99":%.1f,"max":%.1f}',
      percentile(lats, 50), percentile(lats, 90), percentile(lats, 99),
      lats[#lats] or 0)
  end
  if err then out[#out + 1] = '"first_error":' .. json_string(err) end
  io.write("BENCH_JSON {" .. table.concat(out, ",") .. "}\n")
end
