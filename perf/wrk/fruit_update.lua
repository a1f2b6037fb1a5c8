-- perf/wrk/fruit_update.lua — scenario (7): updateFruit on a random apple
-- (PERF_IDS = apples.ids) while the 100 fruitBySize batches of the warm-up
-- are cached: every write is reconciled against all of them. A new acidity
-- keeps membership and order, so each batch holding the apple is patched.
local C = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
local W = "mutation($id:ID!,$a:Float){updateFruit(kind:APPLE,id:$id,input:{acidity:$a}){id acidity version}}"
local ids

function init(args)
  ids = C.init_ids()
end

function request()
  local v = string.format('{"id":%s,"a":3.%02d}', C.q(ids[math.random(#ids)]), math.random(0, 99))
  return C.post_auth(C.body(W, v))
end
