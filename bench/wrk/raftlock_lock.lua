-- raftlock lock cycle: POST /v1/locks/<name>/acquire {"ttl":10,"wait":10000},
-- then POST /v1/locks/<name>/release {"token":<token from the grant>}.
--
-- A state machine per Lua state, so the bench runs this script with one
-- connection per wrk thread: wrk's response() does not say which
-- connection answered. Each thread cycles its own lock (throughput, not
-- contention); after a failed step it moves to a fresh name, so a grant it
-- never released cannot block it.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

counts_cycles = true
local answered = false
local prefix, step, name, token, t0, awaiting, generation =
  "", "acquire", nil, nil, 0, false, 0

local function rename()
  name = "bench-lock-" .. prefix .. "-" .. tostring(thread_id) .. "-" .. generation
end

local function abort(what, status, body)
  aborted = aborted + 1
  note_error(what, status, body)
  generation = generation + 1
  rename()
  step = "acquire"
end

function init(args)
  prefix = parse_args(args).prefix or ""
  rename()
end

function request()
  -- wrk calls request() once on the first thread's state to inspect it
  -- before any connection exists: repeat the first step then. Later, a
  -- second call without an answer means wrk reconnected and lost one.
  if awaiting and answered then abort(step, "no answer", "") end
  awaiting = true
  if step == "acquire" then
    t0 = now_us()
    return wrk.format("POST", "/v1/locks/" .. name .. "/acquire", JSON,
      '{"ttl":10,"wait":10000}')
  end
  return wrk.format("POST", "/v1/locks/" .. name .. "/release", JSON,
    '{"token":' .. token .. '}')
end

function response(status, headers, body)
  awaiting, answered = false, true
  if status ~= 200 then return abort(step, status, body) end
  if step == "acquire" then
    token = body:match('"token":(%d+)')
    if not token then return abort("acquire", status, body) end
    step = "release"
  else
    record_cycle(t0)
    step = "acquire"
  end
end
