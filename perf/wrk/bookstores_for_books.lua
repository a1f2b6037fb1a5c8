-- perf/wrk/bookstores_for_books.lua — scenario (3): bookstoresForBooks with
-- PERF_N ids (default 100). The lists come from a fixed pool of PERF_LISTS
-- lists (default 1000) drawn once from PERF_IDS with PERF_LIST_SEED, the same
-- pool in every thread and run, so a warm-up (PERF_WALK=1: each list once)
-- makes the run all cached batches. Ids inside a list are distinct.
local C = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
local Q = "query($ids:[ID!]!){bookstoresForBooks(bookIds:$ids){bookId book{id title} bookstore{id name}}}"
local bodies

function init(args)
  C.init_thread()
  local ids = C.load_lines(os.getenv("PERF_IDS"))
  local n = tonumber(os.getenv("PERF_N") or "100")
  local k = tonumber(os.getenv("PERF_LISTS") or "1000")
  local x = tonumber(os.getenv("PERF_LIST_SEED") or "7") % 2147483646 + 1
  bodies = {}
  for l = 1, k do
    local seen, parts = {}, {}
    while #parts < n and #parts < #ids do
      x = (x * 16807) % 2147483647
      local i = x % #ids + 1
      if not seen[i] then
        seen[i] = true
        parts[#parts + 1] = C.q(ids[i])
      end
    end
    bodies[l] = C.body(Q, '{"ids":[' .. table.concat(parts, ",") .. ']}')
  end
end

function request()
  return C.post_next(bodies)
end
