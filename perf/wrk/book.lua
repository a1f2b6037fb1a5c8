-- perf/wrk/book.lua — scenarios (1) and (2): book(id) with ids from the data
-- set (PERF_IDS). Random picks, or (PERF_WALK=1) every id once in a fixed
-- shuffled order: the cache warm-up, and the miss run (2) after a flush.
local C = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
local Q = "query($id:ID!){book(id:$id){id title authors year price version}}"
local ids

function init(args)
  ids = C.init_ids()
  if C.walk then ids = C.shuffled(ids, C.seed) end
end

function request()
  local id = C.next_item(ids)
  if id == nil then return C.idle() end
  return C.post(C.body(Q, '{"id":' .. C.q(id) .. '}'))
end
