-- cache.lua — every write oponn makes to its Redis cache, in one script.
--
-- Loaded once per connection (SCRIPT LOAD) and called by SHA (EVALSHA); the
-- C side (lib/cache.c) reloads it on NOSCRIPT. One script with a dispatch on
-- ARGV[1] so all operations share the helpers below (Redis scripts cannot
-- call each other). Embedded into the library at build time
-- (etc/lua2c.sh -> build/gen/cache_lua.h).
--
-- Calling convention, every operation:
--   KEYS[1]  P:epoch
--   ARGV[1]  operation name       ARGV[2]  key prefix P
--   ARGV[3]  new epoch to SET now ("" = none: the caller bumps the epoch
--            after it saw Redis fail, so nothing written before is trusted)
--   ARGV[4]  epoch to set if none exists yet (a fresh random token)
--   ARGV[5..] operation arguments (see each op)
--
-- Keys other than KEYS[1..n] are derived here from P and the "kind:escaped-id"
-- tails the C key module built (see lib/cache_key.h): this script needs a
-- standalone Redis (not Cluster), which is what oponn runs.
--
-- Values. Entity P:K:E is a string "epoch|version|n|JSON" (n = "1" for a
-- negative entry or a tombstone, "h" for a hold; JSON empty for both), so
-- that one MGET reads
-- every entity of a batch (a hash would take one HMGET each: two thirds of a
-- 100-id batch read). A value whose epoch is not the current one, or that is
-- not a string (an older layout), is a miss. Batch P:q:NAME:HASH is a hash {g, p = predicate
-- JSON, c = canonical arguments, v = the materialised value a read returns
-- (value_of below; absent = a miss), x = "1" when exhaustive (every
-- matching record is a member), m =
-- member count, "@" .. tail = that record's member string (membership is
-- looked up here, in the batch itself, so nothing evicted separately can
-- make a member look absent)} and P:q:NAME:HASH:z a ZSET of members (score
-- 0, lexical order = sort order), which writes use to place members; reads
-- use only "v". P:rb:K:E is the per-record index of the
-- batches holding the record (for operators and purge tooling). A batch whose ZSET does not hold m members lost it
-- to eviction: its value is still exact (reads serve it), and the batch is
-- dropped when a write of its table meets it.
-- A member is enc(sort field 1) .. enc(...) .. enc(id) .. tail, where
-- enc(s) = type byte .. s with NUL escaped .. "\0\0"; the tail "K:E" after
-- the last NUL names the entity key.
--
-- Predicate JSON (built by lib/cache_query.c from a declaration):
--   {"n": name, "c": canonical args, "t": [tables], "f": [filters],
--    "s": [sort fields before id], "l": limit (absent = none),
--    "j": [join field, join kind] (absent = none)}
-- filter: {"k": field, "o": "eq", "v": value} | {"k", "o": "range", "lo", "hi"}
--         (inclusive; either bound may be null) | {"k", "o": "in", "v": [values]}

local P = ARGV[2]
local EK = KEYS[1]
local NULL = cjson.null
local bumped = 0
if ARGV[3] ~= '' then
    redis.call('SET', EK, ARGV[3])
    bumped = 1
end
local EPOCH = redis.call('GET', EK)
local created = false
if not EPOCH and ARGV[4] ~= '' then
    redis.call('SET', EK, ARGV[4])
    EPOCH = ARGV[4]
    created = true
end
local STATS = P .. ':stats'
if bumped == 1 then redis.call('HINCRBY', STATS, 'epoch_bumps', 1) end

-- Percent-encoding, byte for byte the same as cache_key_escape() (checked by
-- t/31-cache-lua.t); used for ids read out of JSON (joins, id lists) and for
-- the string values batches are indexed by (ival).
local function esc(s)
    return (string.gsub(s, '[^A-Za-z0-9%-%._]', function(c)
        return string.format('%%%02X', string.byte(c))
    end))
end

-- The index form of a filter value: the same string for values eqv() finds
-- equal (5 and 5.0), different strings otherwise; nil for a value no record
-- can equal (null, a list, NaN). Holds no ':' or ','.
local function ival(v)
    local t = type(v)
    if t == 'string' then return 's' .. esc(v) end
    if t == 'number' then
        if v ~= v then return nil end
        if v == 0 then v = 0 end -- -0 == 0
        return 'n' .. string.format('%.17g', v)
    end
    if t == 'boolean' then return v and 'b1' or 'b0' end
    return nil
end

-- The kinds of lib/kind.c (t/unit/kind.c checks this line against its rows).
local KINDS = {books = 1, bookstores = 1, apples = 1, oranges = 1}

-- ---------------------------------------------------------------- predicates

-- MongoDB-like equality: no conversion between types; 5 == 5.0.
local function eqv(a, b)
    if type(a) ~= type(b) then return false end
    return a == b
end

-- Byte-wise a < b. Lua's own string '<' uses strcoll(), which follows the
-- server's locale; ZSET lexical order and MongoDB's are byte order.
local function lt(a, b)
    local n = math.min(#a, #b)
    for i = 1, n do
        local x, y = string.byte(a, i), string.byte(b, i)
        if x ~= y then return x < y end
    end
    return #a < #b
end

local function cmp_ok(a, b) -- a <= b, same comparable type only
    local ta = type(a)
    if ta ~= type(b) then return nil end
    if ta == 'number' then return a <= b end
    if ta == 'string' then return not lt(b, a) end
    return nil
end

-- Does document doc (decoded JSON) of table kind satisfy predicate pred?
local function matches(pred, doc, kind)
    local in_table = false
    for _, t in ipairs(pred.t) do
        if t == kind then in_table = true end
    end
    if not in_table then return false end
    for _, f in ipairs(pred.f) do
        local v = doc[f.k]
        if v == nil or v == NULL then return false end
        if f.o == 'eq' then
            if not eqv(v, f.v) then return false end
        elseif f.o == 'range' then
            if f.lo ~= nil and f.lo ~= NULL then
                local r = cmp_ok(f.lo, v)
                if not r then return false end
            end
            if f.hi ~= nil and f.hi ~= NULL then
                local r = cmp_ok(v, f.hi)
                if not r then return false end
            end
        elseif f.o == 'in' and f.ids then -- a write view (write_view)
            local iv = ival(v)
            if not iv or not string.find(f.ids, ',' .. iv .. ',', 1, true) then return false end
        elseif f.o == 'in' then
            local found = false
            for _, x in ipairs(f.v) do
                if eqv(v, x) then
                    found = true
                    break
                end
            end
            if not found then return false end
        else
            return error('cache.lua: unknown filter operator ' .. tostring(f.o))
        end
    end
    return true
end

local function enc(v)
    if type(v) == 'string' then
        return '\2' .. string.gsub(v, '%z', '\0\1') .. '\0\0'
    end
    return '\1\0\0' -- null / missing sort first, as in MongoDB
end

local function member_of(pred, doc, tail)
    local parts = {}
    for _, f in ipairs(pred.s) do parts[#parts + 1] = enc(doc[f]) end
    parts[#parts + 1] = enc(doc.id)
    parts[#parts + 1] = tail
    return table.concat(parts)
end

local function tail_of(member)
    return string.match(member, '%z([^%z]*)$')
end

-- The patch decision for one batch (pure: t/31-cache-lua.t drives it through
-- the 'decide' op). Arguments:
--   limit     number or nil (unlimited)
--   x         true when the batch is exhaustive (nothing matching beyond it)
--   n         current member count
--   old_m     the record's member string if it is in the batch, else nil
--   new_m     its member string if the new version matches, else nil
--   last      the last member other than old_m (nil if none)
-- Returns one of: 'none', 'patch' (same place), 'move', 'insert',
-- 'insert_evict' (insert and drop the last member; batch becomes
-- non-exhaustive), 'exclude' (stays out, batch becomes non-exhaustive),
-- 'remove', 'drop'.
local function decide(limit, x, n, old_m, new_m, last)
    if old_m then
        if new_m then
            if new_m == old_m then return 'patch' end
            if x or limit == nil then return 'move' end
            -- More matching records may exist beyond the last member: the
            -- record may only move to a place still before the last other one.
            if last ~= nil and lt(new_m, last) then return 'move' end
            return 'drop'
        end
        if x or limit == nil then return 'remove' end
        return 'drop' -- a limited batch now short of a member MongoDB would return
    end
    if not new_m then return 'none' end
    if limit ~= nil and limit <= 0 then return 'none' end
    if not x and last ~= nil and lt(last, new_m) then return 'none' end
    if not x and last == nil then return 'drop' end
    if limit ~= nil and n + 1 > limit then
        -- Full: the record either pushes the last member out or stays beyond
        -- it; either way the batch no longer holds every matching record.
        if last ~= nil and lt(last, new_m) then return 'exclude' end
        return 'insert_evict'
    end
    return 'insert'
end

-- -------------------------------------------------------------- entities

-- A hold (purge, or a write whose outcome the worker cannot know): the
-- record's current version is unknown, so the hold claims the highest one.
-- Readers see a miss and read MongoDB; every fill, which is version guarded,
-- is refused until the hold expires; a write meets it as a purge (write()).
local HOLD_VERSION = 9007199254740992

local function entity_decode(s)
    if not s or not EPOCH then return nil end
    local g, v, n, at = string.match(s, '^([^|]*)|([^|]*)|([01h])|()')
    if g ~= EPOCH then return nil end
    if n == '1' then return {v = tonumber(v) or 0, neg = true} end
    if n == 'h' then return {v = HOLD_VERSION, neg = false, hold = true} end
    return {v = tonumber(v) or 0, neg = false, d = string.sub(s, at)}
end

-- MGET, not GET: it answers nil for a key of another type instead of failing.
local function entity_get(key)
    return entity_decode(redis.call('MGET', key)[1])
end

-- The entities of keys[1..n] in one MGET per 500 keys (unpack's stack
-- limit): out[i] is keys[i]'s entity or nil.
local function entity_mget(keys)
    local out = {}
    for i = 1, #keys, 500 do
        local vals = redis.call('MGET', unpack(keys, i, math.min(i + 499, #keys)))
        for j = 1, #vals do out[i + j - 1] = entity_decode(vals[j]) end
    end
    return out
end

-- The string value of a field of a record's JSON, found without decoding
-- it (bget: 100 decodes were a third of a 100-id read). needle is
-- '"field":"'. Records are flat objects written compactly by the repository
-- (*_to_json), and inside a JSON string every '"' is escaped, so the needle
-- can only match the key itself. nil when the field is absent, not a string,
-- or the value has escapes: the caller decodes then.
local function json_str_field(json, needle)
    local _, e = string.find(json, needle, 1, true)
    if not e then return nil end
    local q = string.find(json, '"', e + 1, true)
    if not q then return nil end
    local v = string.sub(json, e + 1, q - 1)
    if string.find(v, '\\', 1, true) then return nil end
    return v
end

local function entity_set(key, version, json, ttl)
    local val = EPOCH .. '|' .. version .. (json == nil and '|1|' or '|0|' .. json)
    if tonumber(ttl) > 0 then
        redis.call('SET', key, val, 'EX', ttl)
    else
        redis.call('SET', key, val)
    end
end

local function stat(field, n)
    if n ~= 0 then redis.call('HINCRBY', STATS, field, n) end
end

-- Is `seen`, the epoch a miss read (the first part of a lease-less fill's
-- token), still the current one? A write-through write whose cache call
-- failed starts a new epoch and moves no table counter, so a fill whose
-- MongoDB read preceded that write must not be stored in the new epoch.
-- A miss that saw no epoch ("") matches only the one this call created:
-- any other was set after the miss, by a bump or another call.
local function same_epoch(seen)
    if not EPOCH then return false end
    return seen == EPOCH or (seen == '' and created)
end

-- Write-behind writes of this record not yet applied to MongoDB: while there
-- are any, a value read from MongoDB is older than the truth and must not be
-- cached.
local function pending(tail)
    return tonumber(redis.call('GET', P .. ':pendr:' .. tail) or '0') > 0
end

-- A write leaving the queue (applied, or dead) also moves its table's write
-- counter: a batch read that missed while the write was pending holds the
-- counter of the put, and may have read MongoDB before the writer applied
-- it; bfill checks pend:<table> only at fill time, when the write may be
-- applied and acknowledged already, so without this the stale read (a
-- record that newly matches left out) would be stored.
local function unpend(kind, tail)
    for _, k in ipairs({P .. ':pend:' .. kind, P .. ':pendr:' .. tail}) do
        if tonumber(redis.call('DECR', k)) <= 0 then redis.call('DEL', k) end
    end
    redis.call('INCR', P .. ':tv:' .. kind)
end

-- --------------------------------------------------------------- batches

-- Which batches a write visits (issue 22, item 3): a write's Redis time
-- grows with the batches it could change, not with every cached batch of
-- its table. P:tables files each batch once per table it reads, in one of
-- three forms:
--
--   K:i:<bid>               the only filter is `id IN [...]` (books(ids),
--                           bookstoresForBooks): found through P:ri:K:E, the
--                           batches that list the written record's id
--   K:v:<field>:<val>:<bid> an equality filter field = val (fruitBySize,
--                           fruitByColour, bookstoreBooks, bookstoreByName):
--                           found by the record's new value of the field
--                           (it may enter) and by the values it is listed
--                           under, P:lv:K (it may leave or change there)
--   K:<bid>                 anything else (<bid> is "q:NAME:HASH": a range,
--                           no filter): every write of K visits it
--
-- P:lv:K is a hash {tail -> ",field:val,...,"}: the index pairs of the
-- K:v batches that may hold the record. bfill adds its batch's pair for
-- every member; a write visits every batch under those pairs (so every
-- indexed batch the record is in) and under its new values, then sets the
-- record's field to the pairs of the batches it is still in. So it is never
-- missing a batch that holds the record, as long as it is not lost: it has
-- no TTL, like P:tables (never evicted under volatile-* or noeviction). One
-- field per record listed in an indexed batch: bounded by the table's size.
-- P:vf:K (a set) names the fields K's batches are indexed by.
local function id_keyed(pred)
    local f = pred.f
    return #f == 1 and f[1].o == 'in' and f[1].k == 'id'
end

-- "field:val" of the equality filter a batch is indexed by, or nil (not
-- indexed by value).
local function index_pair(pred)
    if id_keyed(pred) then return nil end
    for _, f in ipairs(pred.f) do
        if f.o == 'eq' and type(f.k) == 'string' and string.find(f.k, '^[%w_]+$') then
            local iv = ival(f.v)
            if iv then return f.k .. ':' .. iv end
        end
    end
    return nil
end

-- The batch id of a P:tables entry of table kind (any of the three forms).
local function entry_bid(kind, entry)
    local rest = string.sub(entry, #kind + 2)
    local form = string.sub(rest, 1, 2)
    if form == 'i:' then return string.sub(rest, 3) end
    if form == 'v:' then return string.match(rest, '^v:[^:]*:[^:]*:(.*)$') end
    return rest
end

-- What a write needs of an id-keyed batch's predicate, without its id list
-- and arguments (a 100-id predicate took a third of a book write's visit
-- to copy and decode): field "w" of the batch, with the ids as one string
-- ",ival,ival,...," that matches() searches. Only strings and small
-- integers, so cjson.encode (14 significant digits) loses nothing.
local function write_view(pred)
    local ids = {}
    for _, v in ipairs(pred.f[1].v) do
        local iv = ival(v)
        if iv then ids[#ids + 1] = iv end
    end
    return cjson.encode({t = pred.t, s = pred.s, l = pred.l, j = pred.j,
        f = {{k = 'id', o = 'in', ids = ',' .. table.concat(ids, ',') .. ','}}})
end

-- Drops a batch (pred_json: its stored predicate, read here when nil).
local function batch_drop(bid, pred, pred_json)
    local bkey = P .. ':' .. bid
    pred_json = pred_json or redis.call('HGET', bkey, 'p')
    redis.call('DEL', bkey, bkey .. ':z')
    local pair = index_pair(pred)
    for _, t in ipairs(pred.t) do
        redis.call('ZREM', P .. ':tables', t .. ':' .. bid, t .. ':i:' .. bid)
        if pair then redis.call('ZREM', P .. ':tables', t .. ':v:' .. pair .. ':' .. bid) end
    end
    if pred_json then redis.call('HSET', P .. ':dropped', bid, pred_json) end
end

-- Entries of batches that expired stay in P:tables until a write that
-- visits them, or this sweep, removes them. Each bfill looks at the next n
-- entries after a cursor (P:sweep, wrapping around), so the index holds
-- O(live batches) entries even under values no write visits again (the
-- bookstoreByName of a name nobody takes).
local function sweep(n)
    local idx, cur = P .. ':tables', P .. ':sweep'
    local from = redis.call('GET', cur)
    local got = redis.call('ZRANGEBYLEX', idx, from and ('(' .. from) or '-', '+', 'LIMIT', 0, n)
    if #got == 0 then
        redis.call('DEL', cur)
        return
    end
    for _, entry in ipairs(got) do
        local kind = string.match(entry, '^([^:]+):')
        local bid = kind and entry_bid(kind, entry)
        if not bid or redis.call('HGET', P .. ':' .. bid, 'g') ~= EPOCH then
            redis.call('ZREM', idx, entry)
        end
    end
    redis.call('SET', cur, got[#got])
end

local function last_other(zkey, old_m)
    local tail = redis.call('ZRANGE', zkey, -2, -1)
    if #tail == 0 then return nil end
    if tail[#tail] ~= old_m then return tail[#tail] end
    return tail[#tail - 1]
end

-- The materialised value of a batch (field "v" of its hash): what a read
-- returns, so a read is plain HMGET + MGET with no script and no per-member
-- work in Redis. Per member, in order: "\1" tail "\2" JSON "\2" join tail
-- (the tail of its join target, "" if none; the target itself is read with
-- one MGET, since a store write would otherwise have to patch every batch
-- that joins it). JSON written by the repositories escapes every control
-- byte, so "\1" tail "\2" finds a member's segment with one plain search,
-- and a write patches the value in place: a few string operations per
-- batch it touches, whatever the member count.
local SEG, SEP = '\1', '\2'

local function join_tail(pred, json)
    if not pred.j then return '' end
    local fk = json_str_field(json, '"' .. pred.j[1] .. '":"')
    if fk == nil then fk = cjson.decode(json)[pred.j[1]] end
    if type(fk) ~= 'string' then return '' end
    return pred.j[2] .. ':' .. esc(fk)
end

local function segment(pred, tail, json)
    return SEG .. tail .. SEP .. json .. SEP .. join_tail(pred, json)
end

-- JSON that a value cannot hold (a raw separator byte): not cacheable.
local function unsafe(json)
    return string.find(json, '[\1\2]') ~= nil
end

-- Builds "v" from parallel lists of member tails and JSON texts; nil if one
-- cannot be held.
local function value_of(pred, tails, jsons)
    local parts = {}
    for i = 1, #tails do
        if unsafe(jsons[i]) then return nil end
        parts[i] = segment(pred, tails[i], jsons[i])
    end
    return table.concat(parts)
end

-- Where tail's segment of v starts and ends (inclusive), or nil.
local function seg_find(v, tail)
    local s = string.find(v, SEG .. tail .. SEP, 1, true)
    if not s then return nil end
    local e = string.find(v, SEG, s + 1, true)
    return s, (e or #v + 1) - 1
end

local function seg_cut(v, tail)
    local s, e = seg_find(v, tail)
    if not s then return nil end
    return string.sub(v, 1, s - 1) .. string.sub(v, e + 1)
end

-- Inserts seg where member m now stands in the ZSET (before the next one).
local function seg_insert(v, zkey, m, seg)
    local r = redis.call('ZRANK', zkey, m)
    if not r then return nil end
    local nxt = redis.call('ZRANGE', zkey, r + 1, r + 1)[1]
    if not nxt then return v .. seg end
    local s = seg_find(v, tail_of(nxt))
    if not s then return nil end
    return string.sub(v, 1, s - 1) .. seg .. string.sub(v, s)
end

-- Rebuilds "v" of batch bkey from its member ZSET and the entity keys (a
-- batch without a value: an older layout, or a failed patch). A member that
-- is not there (evicted, held) leaves the batch without "v": a miss.
local function materialise(bkey, pred)
    local members = redis.call('ZRANGE', bkey .. ':z', 0, -1)
    local tails, keys = {}, {}
    for i, m in ipairs(members) do
        tails[i] = tail_of(m)
        keys[i] = P .. ':' .. tails[i]
    end
    local es = entity_mget(keys)
    local jsons = {}
    for i = 1, #members do
        local e = es[i]
        if not e or e.neg or e.hold then
            redis.call('HDEL', bkey, 'v')
            return
        end
        jsons[i] = e.d
    end
    local v = value_of(pred, tails, jsons)
    if v then
        redis.call('HSET', bkey, 'v', v)
    else
        redis.call('HDEL', bkey, 'v')
    end
end

-- Patches "v" of batch bkey after reconcile's `action` on record `tail`
-- (new JSON `json`, nil for a delete; new member string new_m; `gone` the
-- tail an insert evicted). The ZSET is already updated. Falls back to a
-- rebuild when the value is missing or does not hold what it should.
local function value_patch(bkey, pred, action, tail, json, new_m, gone)
    local v = redis.call('HGET', bkey, 'v')
    if v and json and unsafe(json) then v = nil end
    if v and action == 'patch' then -- same place: replace the segment
        local s, e = seg_find(v, tail)
        v = s and (string.sub(v, 1, s - 1) .. segment(pred, tail, json) .. string.sub(v, e + 1))
    elseif v and (action == 'move' or action == 'remove') then
        v = seg_cut(v, tail)
    end
    if v and gone then v = seg_cut(v, gone) end
    if v and (action == 'move' or action == 'insert' or action == 'insert_evict') then
        v = seg_insert(v, bkey .. ':z', new_m, segment(pred, tail, json))
    end
    if v then
        redis.call('HSET', bkey, 'v', v)
    else
        materialise(bkey, pred)
    end
end

-- Reconciles one batch `bid` with the write of record `tail` (kind `kind`;
-- newdoc and newjson nil for a delete). `entry` is the batch's P:tables
-- entry, false when it was found through P:ri (id-keyed: its write view "w"
-- is read instead of its predicate). Counts into c; returns the action
-- ('none' for a batch gone, of an old epoch, or left alone).
local function reconcile_one(kind, tail, bid, entry, newdoc, newjson, c)
    local bkey = P .. ':' .. bid
    local zkey = bkey .. ':z'
    local rkey = P .. ':rb:' .. tail
    local b = redis.call('HMGET', bkey, 'g', entry and 'p' or 'w', 'x', 'm', '@' .. tail)
    local pj = b[2]
    if b[1] == EPOCH and not pj then pj = redis.call('HGET', bkey, 'p') end -- no "w" yet
    if b[1] ~= EPOCH or not pj then
        -- expired or from an old epoch
        if entry then
            redis.call('ZREM', P .. ':tables', entry)
        else
            redis.call('SREM', P .. ':ri:' .. tail, bid)
            redis.call('ZREM', P .. ':tables', kind .. ':i:' .. bid)
        end
        return 'none'
    end
    local pred = cjson.decode(pj)
    local n = tonumber(b[4])
    if n ~= redis.call('ZCARD', zkey) then
        batch_drop(bid, pred, entry and pj) -- members evicted
        c[4] = c[4] + 1
        return 'drop'
    end
    local x = (b[3] == '1')
    local old_m = b[5]
    if old_m and not redis.call('ZSCORE', zkey, old_m) then old_m = nil end
    local new_m = nil
    if newdoc and matches(pred, newdoc, kind) then new_m = member_of(pred, newdoc, tail) end
    local action, gone_tail = 'none', nil
    if old_m and new_m == old_m then
        action = 'patch' -- decide()'s first answer, without its ZRANGE
    elseif old_m or new_m then
        action = decide(pred.l, x, n, old_m, new_m, last_other(zkey, old_m))
    end
    if action == 'patch' then
        c[1] = c[1] + 1
    elseif action == 'move' then
        redis.call('ZREM', zkey, old_m)
        redis.call('ZADD', zkey, 0, new_m)
        redis.call('HSET', bkey, '@' .. tail, new_m)
        redis.call('HSET', rkey, bid, new_m)
        c[1] = c[1] + 1
    elseif action == 'insert' or action == 'insert_evict' then
        redis.call('ZADD', zkey, 0, new_m)
        redis.call('HSET', bkey, '@' .. tail, new_m)
        redis.call('HSET', rkey, bid, new_m)
        redis.call('EXPIRE', zkey, redis.call('TTL', bkey))
        if action == 'insert' then redis.call('HINCRBY', bkey, 'm', 1) end
        if action == 'insert_evict' then
            local gone = redis.call('ZRANGE', zkey, -1, -1)[1]
            redis.call('ZREM', zkey, gone)
            gone_tail = tail_of(gone)
            redis.call('HDEL', bkey, '@' .. gone_tail)
            redis.call('HDEL', P .. ':rb:' .. gone_tail, bid)
            redis.call('HSET', bkey, 'x', '0')
        end
        c[2] = c[2] + 1
    elseif action == 'exclude' then
        redis.call('HSET', bkey, 'x', '0')
        c[1] = c[1] + 1
    elseif action == 'remove' then
        redis.call('ZREM', zkey, old_m)
        redis.call('HINCRBY', bkey, 'm', -1)
        redis.call('HDEL', bkey, '@' .. tail)
        redis.call('HDEL', rkey, bid)
        c[3] = c[3] + 1
    elseif action == 'drop' then
        batch_drop(bid, pred, entry and pj)
        redis.call('HDEL', rkey, bid)
        c[4] = c[4] + 1
    end
    if action ~= 'none' and action ~= 'drop' and action ~= 'exclude' then
        value_patch(bkey, pred, action, tail, newjson, new_m, gone_tail)
    end
    return action
end

-- The batches a write of record `tail` of table `kind` must visit (see
-- "Which batches a write visits"), each once: a list of {bid, entry
-- (false: found through P:ri), index pair (nil: not indexed by value)},
-- and the record's P:lv field as read.
local function reconcile_targets(kind, tail, newdoc)
    local idx = P .. ':tables'
    local out, seen = {}, {}
    local function add(bid, entry, pair)
        if not seen[bid] then
            seen[bid] = true
            out[#out + 1] = {bid, entry, pair}
        end
    end
    for _, entry in ipairs(redis.call('ZRANGEBYLEX', idx, '[' .. kind .. ':q:',
        '(' .. kind .. ':q;')) do
        add(string.sub(entry, #kind + 2), entry, nil)
    end
    for _, bid in ipairs(redis.call('SMEMBERS', P .. ':ri:' .. tail)) do add(bid, false, nil) end
    local listed = redis.call('HGET', P .. ':lv:' .. kind, tail)
    local prs, has = {}, {}
    for pr in string.gmatch(listed or '', '[^,]+') do
        if not has[pr] then
            has[pr] = true
            prs[#prs + 1] = pr
        end
    end
    if newdoc then
        for _, k in ipairs(redis.call('SMEMBERS', P .. ':vf:' .. kind)) do
            local iv = ival(newdoc[k])
            local pr = iv and (k .. ':' .. iv)
            if pr and not has[pr] then
                has[pr] = true
                prs[#prs + 1] = pr
            end
        end
    end
    for _, pr in ipairs(prs) do
        local pre = kind .. ':v:' .. pr .. ':'
        for _, entry in ipairs(redis.call('ZRANGEBYLEX', idx, '[' .. pre,
            '(' .. kind .. ':v:' .. pr .. ';')) do
            add(string.sub(entry, #pre + 1), entry, pr)
        end
    end
    return out, listed
end

-- Reconciles the cached batches reading table `kind` that the write of the
-- record whose tail is `tail` could change: newdoc is its decoded new
-- version and newjson its text (both nil for a delete). Returns counts
-- {patched, inserted, removed, dropped, visited}.
local function reconcile(kind, tail, newdoc, newjson, batch_ttl)
    local c = {0, 0, 0, 0, 0}
    local targets, listed = reconcile_targets(kind, tail, newdoc)
    local still, has = {}, {} -- index pairs of the batches the record is in afterwards
    for _, t in ipairs(targets) do
        local action = reconcile_one(kind, tail, t[1], t[2], newdoc, newjson, c)
        if t[3] and not has[t[3]] and (action == 'patch' or action == 'move' or
            action == 'insert' or action == 'insert_evict') then
            has[t[3]] = true
            still[#still + 1] = t[3]
        end
    end
    c[5] = #targets
    if #still > 0 then
        local s = ',' .. table.concat(still, ',') .. ','
        if s ~= listed then redis.call('HSET', P .. ':lv:' .. kind, tail, s) end
    elseif listed then
        redis.call('HDEL', P .. ':lv:' .. kind, tail)
    end
    local rkey = P .. ':rb:' .. tail
    if redis.call('EXISTS', rkey) == 1 then redis.call('EXPIRE', rkey, batch_ttl) end
    stat('patched', c[1])
    stat('inserted', c[2])
    stat('removed', c[3])
    stat('dropped', c[4])
    stat('visited', c[5])
    return c
end

-- Drops every cached batch of a table (used when a write-behind write is
-- dead-lettered or a whole type is purged). Returns how many.
local function drop_table(kind)
    local idx = redis.call('ZRANGEBYLEX', P .. ':tables', '[' .. kind .. ':', '(' .. kind .. ';')
    local n = 0
    for _, entry in ipairs(idx) do
        local bid = entry_bid(kind, entry)
        local pj = bid and redis.call('HGET', P .. ':' .. bid, 'p')
        if pj then
            batch_drop(bid, cjson.decode(pj), pj)
            n = n + 1
        else
            redis.call('ZREM', P .. ':tables', entry)
        end
    end
    stat('dropped', n)
    return n
end

-- Files a batch just filled in P:tables (see "Which batches a write
-- visits"), with what each form needs: P:ri and the write view "w" for an
-- id-keyed batch; P:vf and each member's P:lv pair for one indexed by value.
local function batch_index(bid, pred, members, ttl)
    local idx = P .. ':tables'
    if id_keyed(pred) then
        redis.call('HSET', P .. ':' .. bid, 'w', write_view(pred))
        for _, t in ipairs(pred.t) do
            redis.call('ZADD', idx, 0, t .. ':i:' .. bid)
            for _, id in ipairs(pred.f[1].v) do
                local rikey = P .. ':ri:' .. t .. ':' .. esc(tostring(id))
                redis.call('SADD', rikey, bid)
                redis.call('EXPIRE', rikey, ttl)
            end
        end
        return
    end
    local pair = index_pair(pred)
    if not pair then
        for _, t in ipairs(pred.t) do redis.call('ZADD', idx, 0, t .. ':' .. bid) end
        return
    end
    local field = string.match(pair, '^([^:]*)')
    for _, t in ipairs(pred.t) do
        redis.call('ZADD', idx, 0, t .. ':v:' .. pair .. ':' .. bid)
        redis.call('ZREM', idx, t .. ':' .. bid) -- filed by an older version
        redis.call('SADD', P .. ':vf:' .. t, field)
    end
    for _, m in ipairs(members) do
        local lvkey = P .. ':lv:' .. string.match(m[1], '^([^:]+):')
        local listed = redis.call('HGET', lvkey, m[1])
        if not listed then
            redis.call('HSET', lvkey, m[1], ',' .. pair .. ',')
        elseif not string.find(listed, ',' .. pair .. ',', 1, true) then
            redis.call('HSET', lvkey, m[1], listed .. pair .. ',')
        end
    end
end

-- ------------------------------------------------------------ operations

local ops = {}

-- get: KEYS[2] entity, KEYS[3] lease. ARGV[5] lease token, ARGV[6] lease ms.
-- -> {'hit', json} | {'neg'} | {'lease'} (caller fills) | {'wait'}
function ops.get()
    local e = entity_get(KEYS[2])
    if e and not e.hold then
        if e.neg then return {'neg'} end
        return {'hit', e.d}
    end
    if not EPOCH then return {'wait'} end
    if redis.call('SET', KEYS[3], EPOCH .. '|' .. ARGV[5], 'NX', 'PX', ARGV[6]) then
        return {'lease'}
    end
    return {'wait'}
end

-- fill: KEYS[2] entity, KEYS[3] lease. ARGV[5] token, ARGV[6] version
-- (0 = not found), ARGV[7] JSON ("" = not found), ARGV[8] ttl, ARGV[9] negative ttl.
-- Refused unless the caller still holds the lease of this epoch and nothing
-- at least as new is cached. -> 'stored' | 'refused'
function ops.fill()
    local lease = redis.call('GET', KEYS[3])
    if not EPOCH or lease ~= EPOCH .. '|' .. ARGV[5] then
        stat('stale_refused', 1)
        return 'refused'
    end
    redis.call('DEL', KEYS[3])
    if pending(string.sub(KEYS[2], #P + 2)) then
        stat('stale_refused', 1)
        return 'refused'
    end
    local version = tonumber(ARGV[6])
    local cur = entity_get(KEYS[2])
    if cur and cur.v >= version then
        stat('stale_refused', 1)
        return 'refused'
    end
    if ARGV[7] == '' then
        entity_set(KEYS[2], version, nil, ARGV[9])
    else
        entity_set(KEYS[2], version, ARGV[7], ARGV[8])
    end
    return 'stored'
end

-- fillmany: no lease (members of a batch read, or ids of a multi-get,
-- fetched from MongoDB); version guarded. ARGV[5] the epoch the miss read
-- (refused as a whole if it is not the current one), ARGV[6] ttl, ARGV[7]
-- negative ttl, then triples (tail, version, JSON); JSON "" caches a
-- negative entry (an id MongoDB does not have; version 0, so any write of
-- the id wins).
-- -> number stored
function ops.fillmany()
    if not same_epoch(ARGV[5]) then
        stat('stale_refused', (#ARGV - 7) / 3)
        return 0
    end
    local stored = 0
    local keys = {}
    for i = 8, #ARGV, 3 do keys[#keys + 1] = P .. ':' .. ARGV[i] end
    local curs = entity_mget(keys)
    for i = 8, #ARGV, 3 do
        local key = P .. ':' .. ARGV[i]
        local version = tonumber(ARGV[i + 1])
        local cur = curs[(i - 8) / 3 + 1]
        if (cur and cur.v >= version) or pending(ARGV[i]) then
            stat('stale_refused', 1)
        elseif ARGV[i + 2] == '' then
            entity_set(key, version, nil, ARGV[7])
            stored = stored + 1
        else
            entity_set(key, version, ARGV[i + 2], ARGV[6])
            stored = stored + 1
        end
    end
    return stored
end

-- mget: ARGV[5..] entity tails (one multi-get, no leases: the caller fills
-- what it read from MongoDB with fillmany, which is version and epoch
-- guarded).
-- -> for each tail two elements: 'h', JSON | 'n', false | 'm', false; then
-- the epoch (fillmany's token)
function ops.mget()
    local out = {}
    local keys = {}
    for i = 5, #ARGV do keys[#keys + 1] = P .. ':' .. ARGV[i] end
    local es = entity_mget(keys)
    for i = 5, #ARGV do
        local e = es[i - 4]
        if e and e.neg then
            out[#out + 1] = 'n'
            out[#out + 1] = false
        elseif e and not e.hold then
            out[#out + 1] = 'h'
            out[#out + 1] = e.d
        else
            out[#out + 1] = 'm'
            out[#out + 1] = false
        end
    end
    out[#out + 1] = EPOCH or ''
    return out
end

-- put / del: the write of one record, with the reconciliation of every cached
-- batch of its table it could change (reconcile_targets), in one call.
--   ARGV[5] tail, ARGV[6] kind, ARGV[7] version, ARGV[8] JSON ("" for del),
--   ARGV[9] entity ttl, ARGV[10] tombstone ttl, ARGV[11] batch ttl,
--   ARGV[12] "behind" to enqueue for the writer, ARGV[13] queue max length,
--   ARGV[14] raw id (stream field)
-- -> {'ok', patched, inserted, removed, dropped, visited} | {'stale'} | {'full'}
local function write(is_del)
    local key = P .. ':' .. ARGV[5]
    local kind = ARGV[6]
    local version = tonumber(ARGV[7])
    local queue = P .. ':queue'
    if not KINDS[kind] then return error('cache.lua: bad kind ' .. kind) end
    -- Write-behind: Redis holds the only copy until the writer applies it, so
    -- a Redis out of memory (maxmemory, noeviction) must refuse the write.
    -- Redis checks OOM only at a script's first write that changes data; this
    -- count is that first write (the epoch SETs above are checked too), so
    -- an OOM fails the call here, before anything is written.
    if ARGV[12] == 'behind' then stat('behind_writes', 1) end
    if ARGV[12] == 'behind' and redis.call('XLEN', queue) >= tonumber(ARGV[13]) then
        stat('queue_full', 1)
        return {'full'}
    end
    if version <= 0 then version = 9007199254740992 end -- unknown: block every fill
    -- Older than cached: refused (the newer write reconciles). Equal: done
    -- again, because the cached copy may have come from a fill, which sets
    -- the entity but reconciles no batch; this put must.
    local cur = entity_get(key)
    -- A held record (ops.purge): its version is unknown, so this write cannot
    -- be placed against it. It does what the purge did: the record stays
    -- held (MongoDB answers its reads) and its table's batches are dropped.
    if cur and cur.hold and ARGV[12] ~= 'behind' then
        redis.call('INCR', P .. ':tv:' .. kind)
        return {'ok', 0, 0, 0, drop_table(kind), 0}
    end
    if cur and cur.v > version then
        stat('stale_refused', 1)
        return {'stale'}
    end
    -- Write-behind: the cache is the truth until the writer catches up, so
    -- a write must be exactly the next version of what is cached (a
    -- compare-and-set: of two writers that read version N, one wins with
    -- N + 1 and the other re-reads), and a record with queued writes that is
    -- not cached (evicted) cannot be written: its current version is only in
    -- the queue.
    if ARGV[12] == 'behind' and ((cur and cur.v >= version) or (not cur and pending(ARGV[5]))) then
        stat('stale_refused', 1)
        return {'stale'}
    end
    local newdoc = nil
    if is_del then
        entity_set(key, version, nil, ARGV[10])
    else
        entity_set(key, version, ARGV[8], ARGV[9])
        newdoc = cjson.decode(ARGV[8])
    end
    redis.call('DEL', P .. ':lease:' .. ARGV[5])
    redis.call('INCR', P .. ':tv:' .. kind)
    local c = reconcile(kind, ARGV[5], newdoc, newdoc and ARGV[8], tonumber(ARGV[11]))
    if ARGV[12] == 'behind' then
        redis.call('XADD', queue, '*', 'kind', kind, 'id', ARGV[14], 'tail', ARGV[5],
            'version', ARGV[7],
            'op', is_del and 'del' or 'put', 'doc', ARGV[8])
        redis.call('INCR', P .. ':pend:' .. kind)
        redis.call('INCR', P .. ':pendr:' .. ARGV[5])
    end
    return {'ok', c[1], c[2], c[3], c[4], c[5]}
end

function ops.put() return write(false) end
function ops.del() return write(true) end

-- A batch read is not a script: lib/cache.c's cache_batch_get sends HMGET
-- P:q:NAME:HASH g c x v and MGET P:epoch P:tv:<table>... in one round trip
-- (and, for a join, one MGET of the distinct targets), and checks the epoch,
-- the canonical arguments ("c", against hash collisions) and decodes "v".

-- bcount: KEYS[2..] batch keys, ARGV[5..] their predicate JSON (same
-- order). The member count of each cached exhaustive batch, read without
-- touching its members: O(1) per batch, whatever its size (bookCount asked
-- alone, lib/repo_bookstore.c). A batch counts only when a read
-- (cache_batch_get) would serve it: current epoch and a materialised value
-- "v" (a batch whose value a write could not patch or rebuild is a miss
-- there, so its m is not trusted here either; HEXISTS, not the value
-- itself: O(1)), m == ZCARD (a write drops a batch whose members were
-- evicted), and its stored predicate byte for byte the caller's (the batch
-- key's hash collides otherwise). Anything else, a layout this op does not
-- know included, is -1: the caller then reads the batch, which fills it.
-- Writes nothing.
-- -> {count or -1, ...}
function ops.bcount()
    local out = {}
    for i = 2, #KEYS do
        local b = EPOCH and redis.call('HMGET', KEYS[i], 'g', 'p', 'x', 'm') or {}
        local n = -1
        if b[1] == EPOCH and b[2] == ARGV[i + 3] and b[3] == '1' and
            tonumber(b[4]) == redis.call('ZCARD', KEYS[i] .. ':z') and
            redis.call('HEXISTS', KEYS[i], 'v') == 1 then
            n = tonumber(b[4])
        end
        out[#out + 1] = n
    end
    return out
end

-- bindex: KEYS[2] a batch key. Is the batch filed where the writes of its
-- tables look for it (see "Which batches a write visits"): its P:tables
-- entries, P:ri for each listed id (id-keyed), each member's P:lv pair
-- (indexed by value)? `oponn cache verify` asks for every batch; a batch
-- that is not filed would miss a write. A batch of another epoch, or whose
-- members were evicted (the next write drops it), has nothing to check.
-- Writes nothing. -> what is missing, one string each ({} = nothing)
function ops.bindex()
    local bkey = KEYS[2]
    local b = redis.call('HMGET', bkey, 'g', 'p', 'm')
    if b[1] ~= EPOCH or not b[2] then return {} end
    local pred = cjson.decode(b[2])
    local bid = string.sub(bkey, #P + 2)
    local idx = P .. ':tables'
    local out = {}
    local keyed, pair = id_keyed(pred), index_pair(pred)
    for _, t in ipairs(pred.t) do
        local entry = keyed and (t .. ':i:' .. bid) or
            (pair and (t .. ':v:' .. pair .. ':' .. bid) or (t .. ':' .. bid))
        -- an older version filed every non-id batch as t:bid: writes visit it
        if not redis.call('ZSCORE', idx, entry) and
            not (pair and redis.call('ZSCORE', idx, t .. ':' .. bid)) then
            out[#out + 1] = 'P:tables lacks ' .. entry
        end
        for _, id in ipairs(keyed and pred.f[1].v or {}) do
            if redis.call('SISMEMBER', P .. ':ri:' .. t .. ':' .. esc(tostring(id)), bid) == 0 then
                out[#out + 1] = 'P:ri:' .. t .. ':' .. esc(tostring(id)) .. ' lacks it'
            end
        end
    end
    local zkey = bkey .. ':z'
    if pair and tonumber(b[3]) == redis.call('ZCARD', zkey) then
        for _, m in ipairs(redis.call('ZRANGE', zkey, 0, -1)) do
            local tail = tail_of(m)
            local lv = P .. ':lv:' .. string.match(tail, '^([^:]+):')
            local listed = redis.call('HGET', lv, tail)
            if not (listed and string.find(listed, ',' .. pair .. ',', 1, true)) and
                not redis.call('ZSCORE', idx, string.match(tail, '^([^:]+):') .. ':' .. bid) then
                out[#out + 1] = 'P:lv ' .. tail .. ' lacks ' .. pair
            end
        end
    end
    return out
end

-- bfill: KEYS[2] batch key. ARGV[5] predicate JSON, ARGV[6] exhaustive
-- ("1"/"0"), ARGV[7] the miss's token: the epoch it read, ";", the table
-- counters joined by ",", ARGV[8] batch ttl,
-- ARGV[9] entity ttl, ARGV[10] number of member triples, then triples (tail,
-- version, JSON): the members in MongoDB's order, then other entities read
-- with them (a join's targets), stored like fillmany.
-- Refused when the epoch changed since the miss (a write-through write
-- whose cache call failed moves no counter), any table of the batch was
-- written since the miss (its counter moved) or a member's cached version
-- is newer than the one read.
-- -> 'stored' | 'refilled' (stored, and it had been dropped) | 'refused'
function ops.bfill()
    local seen, tvs = string.match(ARGV[7], '^([^;]*);(.*)$')
    if not seen or not same_epoch(seen) then
        stat('stale_refused', 1)
        return 'refused'
    end
    local pred = cjson.decode(ARGV[5])
    local i = 0
    for tv in string.gmatch(tvs, '[^,]+') do
        i = i + 1
        local t = pred.t[i]
        if (redis.call('GET', P .. ':tv:' .. t) or '0') ~= tv then
            stat('stale_refused', 1)
            return 'refused'
        end
        if tonumber(redis.call('GET', P .. ':pend:' .. t) or '0') > 0 then
            return 'refused' -- write-behind writes not yet in MongoDB
        end
    end
    local bid = string.sub(KEYS[2], #P + 2)
    local zkey = KEYS[2] .. ':z'
    local ttl = tonumber(ARGV[8])
    local members = {}
    local mend = 11 + 3 * tonumber(ARGV[10]) - 1
    local keys = {}
    for j = 11, #ARGV, 3 do keys[#keys + 1] = P .. ':' .. ARGV[j] end
    local curs = entity_mget(keys) -- members, then the extras
    for j = 11, mend, 3 do
        local key = P .. ':' .. ARGV[j]
        local cur = curs[(j - 11) / 3 + 1]
        local version = tonumber(ARGV[j + 1])
        if cur and cur.v > version then
            stat('stale_refused', 1)
            return 'refused'
        end
        local doc = cjson.decode(ARGV[j + 2])
        if not matches(pred, doc, string.match(ARGV[j], '^([^:]+):')) then
            stat('fill_mismatch', 1) -- MongoDB and this script disagree: do not cache
            return 'refused'
        end
        if not cur or cur.v < version then entity_set(key, version, ARGV[j + 2], ARGV[9]) end
        members[#members + 1] = {ARGV[j], member_of(pred, doc, ARGV[j]), ARGV[j + 2]}
    end
    redis.call('DEL', KEYS[2], zkey)
    for _, m in ipairs(members) do
        redis.call('ZADD', zkey, 0, m[2])
        redis.call('HSET', KEYS[2], '@' .. m[1], m[2])
        local rkey = P .. ':rb:' .. m[1]
        redis.call('HSET', rkey, bid, m[2])
        redis.call('EXPIRE', rkey, ttl)
    end
    local tails, jsons = {}, {}
    for k, m in ipairs(members) do
        tails[k] = m[1]
        jsons[k] = m[3]
    end
    redis.call('HSET', KEYS[2], 'g', EPOCH, 'p', ARGV[5], 'x', ARGV[6], 'm', #members, 'c',
        pred.c)
    local v = value_of(pred, tails, jsons)
    if v then redis.call('HSET', KEYS[2], 'v', v) end
    redis.call('EXPIRE', KEYS[2], ttl)
    if #members > 0 then redis.call('EXPIRE', zkey, ttl) end
    batch_index(bid, pred, members, ttl)
    for j = mend + 1, #ARGV, 3 do
        local key = P .. ':' .. ARGV[j]
        local cur = curs[(j - 11) / 3 + 1]
        if not ((cur and cur.v >= tonumber(ARGV[j + 1])) or pending(ARGV[j])) then
            entity_set(key, tonumber(ARGV[j + 1]), ARGV[j + 2], ARGV[9])
        end
    end
    sweep(2)
    if redis.call('HDEL', P .. ':dropped', bid) == 1 then
        stat('refilled', 1)
        return 'refilled'
    end
    return 'stored'
end

-- qdone: the writer applied stream entry ARGV[5] (kind ARGV[6], tail
-- ARGV[7]): ack it and delete it, so XLEN counts only writes not yet in
-- MongoDB.
function ops.qdone()
    local q = P .. ':queue'
    local n = redis.call('XACK', q, 'writers', ARGV[5])
    if n == 1 then
        redis.call('XDEL', q, ARGV[5])
        unpend(ARGV[6], ARGV[7])
        redis.call('HINCRBY', STATS, 'queue_applied', 1)
    end
    return n
end

-- qdonen: qdone for a batch in one round trip: ARGV[5..] are triples
-- (entry, kind, tail). -> number acknowledged
function ops.qdonen()
    local q = P .. ':queue'
    local done = 0
    for i = 5, #ARGV - 2, 3 do
        if redis.call('XACK', q, 'writers', ARGV[i]) == 1 then
            redis.call('XDEL', q, ARGV[i])
            unpend(ARGV[i + 1], ARGV[i + 2])
            done = done + 1
        end
    end
    if done > 0 then redis.call('HINCRBY', STATS, 'queue_applied', done) end
    return done
end

-- qdead: move stream entry ARGV[5] (kind ARGV[6], tail ARGV[7]) to the dead
-- letters with ARGV[8] the error, and invalidate what it changed: the entity
-- and every batch of its table (the cache showed a write MongoDB never got).
function ops.qdead()
    local q = P .. ':queue'
    local e = redis.call('XRANGE', q, ARGV[5], ARGV[5])
    if #e == 0 then return 0 end
    local fields = e[1][2]
    fields[#fields + 1] = 'error'
    fields[#fields + 1] = ARGV[8]
    fields[#fields + 1] = 'orig'
    fields[#fields + 1] = ARGV[5]
    redis.call('XADD', P .. ':dead', '*', unpack(fields))
    redis.call('XACK', q, 'writers', ARGV[5])
    redis.call('XDEL', q, ARGV[5])
    unpend(ARGV[6], ARGV[7])
    redis.call('DEL', P .. ':' .. ARGV[7])
    redis.call('INCR', P .. ':tv:' .. ARGV[6])
    drop_table(ARGV[6])
    redis.call('HINCRBY', STATS, 'queue_dead', 1)
    return 1
end

-- qreplay: put dead letter ARGV[5] back on the queue ("all" = every one).
-- -> number replayed
function ops.qreplay()
    local d = P .. ':dead'
    local list
    if ARGV[5] == 'all' then
        list = redis.call('XRANGE', d, '-', '+')
    else
        list = redis.call('XRANGE', d, ARGV[5], ARGV[5])
    end
    local n = 0
    for _, e in ipairs(list) do
        local f, kind, tail = {}, nil, nil
        for i = 1, #e[2], 2 do
            local k = e[2][i]
            if k ~= 'error' and k ~= 'orig' then
                f[#f + 1] = k
                f[#f + 1] = e[2][i + 1]
            end
            if k == 'kind' then kind = e[2][i + 1] end
            if k == 'tail' then tail = e[2][i + 1] end
        end
        redis.call('XADD', P .. ':queue', '*', unpack(f))
        if kind then redis.call('INCR', P .. ':pend:' .. kind) end
        if tail then redis.call('INCR', P .. ':pendr:' .. tail) end
        redis.call('XDEL', d, e[1])
        n = n + 1
    end
    return n
end

-- purge: ARGV[5] kind, ARGV[6] tail ("" = the whole kind's batches).
-- Deletes the entity and its single-flight lease (if a tail is given: a
-- reader that took the lease before a write and read the old version must
-- not fill it after the purge) and drops every batch of the table; the
-- table's write counter refuses batch fills begun before. -> batches dropped
-- ARGV[7] hold ms ("0" = none: write-behind, where the cache is the
-- truth): the entity becomes a hold for that long instead of going, so a
-- fill that read MongoDB before a write and comes after the purge (a
-- multi-get or batch fill takes no lease) is refused too.
local function hold_or_delete(tail, ms)
    local key = P .. ':' .. tail
    if EPOCH and tonumber(ms) > 0 then
        redis.call('SET', key, EPOCH .. '|' .. HOLD_VERSION .. '|h|', 'PX', ms)
    else
        redis.call('DEL', key)
    end
    redis.call('DEL', P .. ':lease:' .. tail)
end

function ops.purge()
    if ARGV[6] ~= '' then hold_or_delete(ARGV[6], ARGV[7] or '0') end
    redis.call('INCR', P .. ':tv:' .. ARGV[5])
    return drop_table(ARGV[5])
end

-- probe: ARGV[5] a token. One small write, so /healthz sees a Redis that
-- answers reads but refuses writes (disk full, out of memory).
function ops.probe()
    redis.call('SET', P .. ':probe', ARGV[5], 'PX', 60000)
    return 1
end

-- Test-only entry points (pure helpers, no data written).
function ops.esc() return esc(ARGV[5]) end
function ops.ival() return ival(cjson.decode(ARGV[5])) or '' end
function ops.match()
    return matches(cjson.decode(ARGV[5]), cjson.decode(ARGV[6]), ARGV[7]) and 1 or 0
end
function ops.member()
    return member_of(cjson.decode(ARGV[5]), cjson.decode(ARGV[6]), ARGV[7])
end
-- decide: ARGV[5] limit ("" none), [6] x "1"/"0", [7] n, [8] old ("" none),
-- [9] new ("" none), [10] last ("" none)
function ops.decide()
    local function opt(s) if s == '' then return nil end return s end
    return decide(tonumber(opt(ARGV[5])), ARGV[6] == '1', tonumber(ARGV[7]), opt(ARGV[8]),
        opt(ARGV[9]), opt(ARGV[10]))
end

local op = ops[ARGV[1]]
if not op then return error('cache.lua: unknown operation ' .. tostring(ARGV[1])) end
return op()
