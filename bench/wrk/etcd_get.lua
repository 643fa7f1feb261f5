-- etcd get: POST /v3/kv/range {"key":...} for the same keys as
-- raftlock_get.lua; linearizable is etcd's default, "serializable":true
-- when asked.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

local reqs, keys, n = {}, 1000, 0

function init(args)
  local o = parse_args(args)
  keys = o.keys
  local ser = o.consistency == "serializable" and ',"serializable":true' or ""
  for i = 0, keys - 1 do
    reqs[i + 1] = wrk.format("POST", "/v3/kv/range", JSON,
      '{"key":"' .. base64("k" .. i) .. '"' .. ser .. '}')
  end
end

function request()
  n = n + 1
  return reqs[n % keys + 1]
end
