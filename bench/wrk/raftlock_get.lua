-- raftlock get: GET /v1/kv/k<n % keys>, linearizable (the default) or with
-- ?consistency=serializable (with token=<jwt>, as that user). The bench
-- writes the keys first.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

local reqs, keys, n = {}, 1000, 0

function init(args)
  local o = parse_args(args)
  keys = o.keys
  local query = o.consistency == "serializable" and "?consistency=serializable" or ""
  for i = 0, keys - 1 do
    reqs[i + 1] = wrk.format("GET", "/v1/kv/k" .. i .. query, with_auth(o))
  end
end

function request()
  n = n + 1
  return reqs[n % keys + 1]
end
