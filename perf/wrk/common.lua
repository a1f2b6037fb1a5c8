-- perf/wrk/common.lua — what every scenario script shares (loaded with dofile).
--
-- Configuration comes from the environment (perf/run.py sets it):
--   PERF_IDS      file of ids, one a line (the data set's, from gen_data)
--   PERF_THREADS  wrk's -t (threads split walks between them)
--   PERF_SEED     random seed (each thread adds its index)
--   PERF_WALK     1 = visit every item once, in order, split over threads, then
--                 stop the thread (cache warming, miss runs); 0 = random picks
--   PERF_TOKEN    bearer token for mutations
--   PERF_DONE_DIR a walk's thread creates <dir>/<thread index> when its share
--                 is done (wrk runs for its whole -d; the caller stops it)
-- Each response that is not 200, or whose body holds "errors", counts as a
-- GraphQL error; done() prints one machine-readable line that perf/perflib.py
-- reads:  PERF_JSON {"requests":…,"gql_errors":…,"p50_us":…,…,"walk_items":…,
-- "walk_answered":…} (a walk's items sent, and answered, over all threads)
local C = {}

C.threads = tonumber(os.getenv("PERF_THREADS") or "1")
C.seed = tonumber(os.getenv("PERF_SEED") or "42")
C.walk = os.getenv("PERF_WALK") == "1"
C.token = os.getenv("PERF_TOKEN") or ""

function C.load_lines(path)
  local t = {}
  local f = assert(io.open(path, "r"), "cannot open " .. tostring(path))
  for line in f:lines() do
    if #line > 0 then t[#t + 1] = line end
  end
  f:close()
  assert(#t > 0, path .. " is empty")
  return t
end

-- Ids are generated hex, but escape what JSON needs anyway.
function C.q(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return string.format("\\u%04x", c:byte())
  end) .. '"'
end

function C.body(query, vars)
  return '{"query":' .. C.q(query) .. ',"variables":' .. vars .. '}'
end

local read_headers = {["Content-Type"] = "application/json"}
local write_headers = {["Content-Type"] = "application/json"}

function C.post(body)
  return wrk.format("POST", wrk.path, read_headers, body)
end

function C.post_auth(body)
  write_headers["Authorization"] = "Bearer " .. C.token
  return wrk.format("POST", wrk.path, write_headers, body)
end

-- A request that touches no backend, sent by a walk whose share is done
-- while wrk stops the thread.
function C.idle()
  return C.post('{"query":"{__typename}"}')
end

-- Per thread: index (set by setup), RNG, walk position, error count.
function C.init_thread()
  tid = tid or 0
  gql_errors = 0
  math.randomseed(C.seed + 7919 * tid)
  C.pos = tid + 1 -- 1-based; a walk takes items tid+1, tid+1+T, ...
  C.probe_call = tid == 0
end

-- init() of a script that draws from PERF_IDS: the thread's state and the ids.
function C.init_ids()
  C.init_thread()
  return C.load_lines(os.getenv("PERF_IDS"))
end

-- Next item of list t: random, or the walk's next (nil once this thread's
-- share is sent: the caller sends C.idle() instead). A walk's thread stops
-- only once every item it sent was answered: stopping with items in flight
-- left their cache fills running in the server after the walk "ended", so
-- the measured run that followed met those entries cold (two fruitBySize
-- batches filled from MongoDB inside every (4) run, workers blocked for
-- hundreds of ms: its p99 tail). A walk item lost to a timeout is never
-- answered: the thread then stops PERF_WALK_DRAIN_S (40) after its share.
function C.next_item(t)
  if not C.walk then
    return t[math.random(#t)]
  end
  -- wrk calls thread 0's request() once before any connection, to count
  -- the requests it pipelines, and sends nothing of it: a walk that gave
  -- that call an item never sent it (its first item stayed cold: (4)'s
  -- size 1 was filled from MongoDB inside every measured run).
  if C.probe_call then
    C.probe_call = false
    return nil
  end
  local v = t[C.pos]
  if v == nil then
    C.sent_all = C.sent_all or os.time()
    C.walk_check()
    return nil
  end
  C.pos = C.pos + C.threads
  C.sent = (C.sent or 0) + 1
  walk_items = C.sent -- thread globals, summed by done()
  return v
end

local drain_s = tonumber(os.getenv("PERF_WALK_DRAIN_S") or "40")

-- A walk's thread whose share is sent and answered (or drained too long):
-- marked done (PERF_DONE_DIR/<tid>) and stopped.
function C.walk_check()
  if not C.sent_all or C.done then return end
  if (C.answered or 0) < (C.sent or 0) and os.time() - C.sent_all < drain_s then return end
  C.done = true
  local dir = os.getenv("PERF_DONE_DIR")
  if dir then
    local f = io.open(dir .. "/" .. tid, "w")
    if f then f:close() end
  end
  wrk.thread:stop()
end

-- request() of a script whose items are prepared bodies.
function C.post_next(bodies)
  local b = C.next_item(bodies)
  if b == nil then return C.idle() end
  return C.post(b)
end

-- A deterministic shuffle (same seed, same order in every thread and run).
function C.shuffled(t, seed)
  local s = {}
  for i = 1, #t do s[i] = t[i] end
  local x = seed % 2147483646 + 1
  for i = #s, 2, -1 do
    x = (x * 16807) % 2147483647
    local j = x % i + 1
    s[i], s[j] = s[j], s[i]
  end
  return s
end

function response(status, headers, body)
  -- A walk counts the answers to its items (not to C.idle()'s requests).
  if C.walk and not (body and body:find('"__typename"', 1, true)) then
    C.answered = (C.answered or 0) + 1
    walk_answered = C.answered
    C.walk_check()
  end
  if status ~= 200 or body == nil or body:find('"errors"', 1, true) then
    gql_errors = gql_errors + 1
    if gql_errors <= 3 and os.getenv("PERF_SHOW_ERRORS") == "1" then
      io.stderr:write(string.format("error response %d: %s\n", status, (body or ""):sub(1, 300)))
    end
  end
end

local all_threads = {}

function setup(thread)
  thread:set("tid", #all_threads)
  all_threads[#all_threads + 1] = thread
end

function done(summary, latency, requests)
  local e, items, answered = 0, 0, 0
  for _, t in ipairs(all_threads) do
    e = e + (t:get("gql_errors") or 0)
    items = items + (t:get("walk_items") or 0)
    answered = answered + (t:get("walk_answered") or 0)
  end
  local se = summary.errors
  io.write(string.format(
    'PERF_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"gql_errors":%d,' ..
    '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,"status_errors":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f,' ..
    '"walk_items":%d,"walk_answered":%d}\n',
    summary.requests, summary.duration, summary.bytes, e,
    se.connect, se.read, se.write, se.timeout, se.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean, items, answered))
end

return C
