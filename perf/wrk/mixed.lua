-- perf/wrk/mixed.lua — scenarios (5) and (6): PERF_WRITE_PCT % (default 10)
-- updateBook mutations (a new price; ids from PERF_WRITE_IDS, default
-- PERF_IDS), the rest book(id) reads of random ids from PERF_IDS.
local C = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
local R = "query($id:ID!){book(id:$id){id title authors year price version}}"
local W = "mutation($id:ID!,$p:Float){updateBook(id:$id,input:{price:$p}){id price version}}"
local ids, wids, pct

function init(args)
  ids = C.init_ids()
  wids = C.load_lines(os.getenv("PERF_WRITE_IDS") or os.getenv("PERF_IDS"))
  pct = tonumber(os.getenv("PERF_WRITE_PCT") or "10")
end

function request()
  if math.random() * 100 < pct then
    local v = string.format('{"id":%s,"p":%d.%02d}', C.q(wids[math.random(#wids)]),
                            math.random(5, 64), math.random(0, 99))
    return C.post_auth(C.body(W, v))
  end
  return C.post(C.body(R, '{"id":' .. C.q(ids[math.random(#ids)]) .. '}'))
end
