-- etcd lock cycle, as an etcd user does it through the JSON gateway:
-- POST /v3/lease/grant {"TTL":10}, /v3/lock/lock {name, lease},
-- /v3/lock/unlock {key}, /v3/lease/revoke {ID}.
--
-- A state machine per Lua state, so the bench runs this script with one
-- connection per wrk thread (see raftlock_lock.lua). After a failed step
-- the cycle starts over on a fresh lock name; its lease expires by itself.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

counts_cycles = true
local answered = false
local prefix, step, name, lease, key, t0, awaiting, generation =
  "", "grant", nil, nil, nil, 0, false, 0

local function rename()
  name = base64("bench-lock-" .. prefix .. "-" .. tostring(thread_id) .. "-" .. generation)
end

local function abort(what, status, body)
  aborted = aborted + 1
  note_error(what, status, body)
  generation = generation + 1
  rename()
  step = "grant"
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
  if step == "grant" then
    t0 = now_us()
    return wrk.format("POST", "/v3/lease/grant", JSON, '{"TTL":10}')
  elseif step == "lock" then
    return wrk.format("POST", "/v3/lock/lock", JSON,
      '{"name":"' .. name .. '","lease":"' .. lease .. '"}')
  elseif step == "unlock" then
    return wrk.format("POST", "/v3/lock/unlock", JSON, '{"key":"' .. key .. '"}')
  end
  return wrk.format("POST", "/v3/lease/revoke", JSON, '{"ID":"' .. lease .. '"}')
end

function response(status, headers, body)
  awaiting, answered = false, true
  if status ~= 200 then return abort(step, status, body) end
  if step == "grant" then
    lease = body:match('"ID":"(%d+)"')
    if not lease then return abort("grant", status, body) end
    step = "lock"
  elseif step == "lock" then
    key = body:match('"key":"([^"]+)"')
    if not key then return abort("lock", status, body) end
    step = "unlock"
  elseif step == "unlock" then
    step = "revoke"
  else
    record_cycle(t0)
    step = "grant"
  end
end
