-- raftlock put: PUT /v1/kv/k<n % keys> with {"value":"<value bytes of v>"}
-- (with token=<jwt>, as that user).
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

local reqs, keys, n = {}, 1000, 0

function init(args)
  local o = parse_args(args)
  keys = o.keys
  local body = '{"value":"' .. string.rep("v", o.value) .. '"}'
  for i = 0, keys - 1 do
    reqs[i + 1] = wrk.format("PUT", "/v1/kv/k" .. i, with_auth(o, JSON), body)
  end
end

function request()
  n = n + 1
  return reqs[n % keys + 1]
end
