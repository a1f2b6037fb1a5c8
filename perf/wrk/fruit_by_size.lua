-- perf/wrk/fruit_by_size.lua — scenario (4): fruitBySize(size, limit), a
-- cached batch. Sizes 1..PERF_SIZES (the generator's 1..10), limits from
-- PERF_LIMITS (comma list, default "100"). PERF_WALK=1 asks every
-- (size, limit) pair once: the warm-up of (4) and of (7)'s 100 batches.
local C = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
local Q = "query($s:Int!,$l:Int){fruitBySize(size:$s,limit:$l){id kind breed size colour acidity version}}"
local bodies

function init(args)
  C.init_thread()
  bodies = {}
  local sizes = tonumber(os.getenv("PERF_SIZES") or "10")
  for lim in (os.getenv("PERF_LIMITS") or "100"):gmatch("%d+") do
    for s = 1, sizes do
      bodies[#bodies + 1] = C.body(Q, string.format('{"s":%d,"l":%s}', s, lim))
    end
  end
end

function request()
  return C.post_next(bodies)
end
