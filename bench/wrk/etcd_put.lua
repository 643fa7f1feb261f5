-- etcd put: POST /v3/kv/put with the same key and value as raftlock_put.lua,
-- base64-encoded as etcd's JSON gateway wants them.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

local reqs, keys, n = {}, 1000, 0

function init(args)
  local o = parse_args(args)
  keys = o.keys
  local value = base64(string.rep("v", o.value))
  for i = 0, keys - 1 do
    reqs[i + 1] = wrk.format("POST", "/v3/kv/put", JSON,
      '{"key":"' .. base64("k" .. i) .. '","value":"' .. value .. '"}')
  end
end

function request()
  n = n + 1
  return reqs[n % keys + 1]
end
