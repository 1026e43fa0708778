-- Stores one call's metric points, all of types that share one hash tag, and folds them into
-- their types' rollups. KEYS and ARGV are laid out by metrics/store_call.hpp (the one place that
-- names them, used by the service and the tests):
--
-- KEYS: the tag's index (sorted set of every block of the tag), the tag's state (hash: the call
--       counter `s`, the retention pass's schedule and cursor), then per type its blocks (sorted
--       set) and its rollups (hash), then one idempotency record per request that has a key.
-- ARGV: arrival (µs; empty: the server's TIME), now (ms, the service's clock), retention (ms),
--       points kept per type, type lifetime (ms), types, records, record lifetime (ms), the
--       tag's key prefix (`m:{tag}:`), the order prefix below which the retention pass looks;
--       then per type: registered until (ms), points, blocks, rollup fields, then per block its
--       order prefix and its rest, then per rollup field its name and the call's share of it;
--       then per record its answer.
--
-- A block is all of one type's points of one call within one minute of their timestamps. Its
-- member is
--   order prefix (8 bytes: the newest timestamp in µs, big-endian with the sign bit flipped, so
--     members sort by time) | arrival (8, µs, big-endian) | call number in the tag (8)
--   | then the rest, from the service: minute (8) | points (2) | type length (1) | type
--     | the points (metrics/block.hpp)
-- so one ZADD into the type's set and one into the index store every point of the block, and
-- the script never reads a point.
--
-- Returns {0, arrival, [position, expiry]...}: for each type (1-based position) whose lifetime
-- moved forward, the new expiry, to which the service renews its registration. When a record of
-- one of the call's requests exists already, returns {-1, record or false per request} and
-- writes nothing.

local arrival = tonumber(ARGV[1])
if not arrival then
  local t = redis.call('TIME')
  arrival = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local now = tonumber(ARGV[2])
local retention = tonumber(ARGV[3])
local cap = tonumber(ARGV[4])
local lifetime = tonumber(ARGV[5])
local types = tonumber(ARGV[6])
local records = tonumber(ARGV[7])
local record_ttl = ARGV[8]
local key_prefix = ARGV[9]
local pass_below = ARGV[10]

local index, tag = KEYS[1], KEYS[2]
local first_record = 3 + 2 * types

-- A repeated request stores nothing more: the service answers it from its record.
if records > 0 then
  local found = redis.call('MGET', unpack(KEYS, first_record, first_record + records - 1))
  for i = 1, records do
    if found[i] then
      table.insert(found, 1, -1)
      return found
    end
  end
end

local call = redis.call('HINCRBY', tag, 's', 1)
local head = struct.pack('>i8>i8', arrival, call)
local minute_now = math.floor(now / 60000)

-- Offsets (1-based) in a member.
local at_arrival, at_minute, at_points, at_type = 9, 25, 33, 35

-- A rollup: count, the sum as (s + c) * 2^e (Neumaier's compensated sum; e turns from 0 to 64
-- when a sum of finite values would overflow a double), min, max, and the newest point's value
-- and timestamp (ms, and µs within the ms). Of equal values the first is kept for min and max;
-- of equal newest timestamps the later arrival (this call) wins.
local rollup_format = '<Bddddddddd'
local function add(s, c, x)
  local t = s + x
  if math.abs(s) >= math.abs(x) then
    c = c + ((s - t) + x)
  else
    c = c + ((x - t) + s)
  end
  return t, c
end
local function merge(old, new)
  if not old then return new end
  local _, n1, s1, c1, e1, mn1, mx1, lv1, lms1, lus1 = struct.unpack(rollup_format, old)
  local _, n2, s2, c2, e2, mn2, mx2, lv2, lms2, lus2 = struct.unpack(rollup_format, new)
  if e1 < e2 then
    s1, c1, e1 = math.ldexp(s1, e1 - e2), math.ldexp(c1, e1 - e2), e2
  elseif e2 < e1 then
    s2, c2 = math.ldexp(s2, e2 - e1), math.ldexp(c2, e2 - e1)
  end
  local s, c = add(s1, c1, s2)
  s, c = add(s, c, c2)
  if e1 == 0 and (s == math.huge or s == -math.huge) then
    s, c = add(math.ldexp(s1, -64), math.ldexp(c1, -64), math.ldexp(s2, -64))
    s, c = add(s, c, math.ldexp(c2, -64))
    e1 = 64
  end
  if mn1 <= mn2 then mn2 = mn1 end
  if mx1 >= mx2 then mx2 = mx1 end
  if lms1 > lms2 or (lms1 == lms2 and lus1 > lus2) then
    lv2, lms2, lus2 = lv1, lms1, lus1
  end
  return struct.pack(rollup_format, 2, n1 + n2, s, c, e1, mn2, mx2, lv2, lms2, lus2)
end

local function minute_of(block) return (struct.unpack('>i8', block, at_minute)) end
local function points_of(block) return (struct.unpack('>H', block, at_points)) end

-- Keeps at least `cap` points: whole minutes go from the oldest end while what stays holds at
-- least `cap` points, every one newer than every point removed (a block never spans minutes),
-- so the newest `cap` points always stay. Returns the number of points held.
local function trim_to_cap(set, held)
  for _ = 1, 16 do
    local oldest = redis.call('ZRANGE', set, 0, 255)
    if #oldest == 0 then return held end
    local minute = minute_of(oldest[1])
    local blocks, points, whole = {}, 0, false
    for _, b in ipairs(oldest) do
      if minute_of(b) ~= minute then
        whole = true
        break
      end
      blocks[#blocks + 1] = b
      points = points + points_of(b)
    end
    if (not whole and #oldest == 256) or held - points < cap then return held end
    redis.call('ZREM', set, unpack(blocks))
    redis.call('ZREM', index, unpack(blocks))
    held = held - points
  end
  return held
end

-- A type's own state, in the field `meta` of its rollups: expiry (ms), points held, the count
-- at which the cap is checked next, the last minute whose expired buckets were deleted.
local meta_format = '<Bdddd'

local out = {0, arrival}
local a = 11
for i = 1, types do
  local set, rollups = KEYS[1 + 2 * i], KEYS[2 + 2 * i]
  local registered, points, blocks, fields =
    tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  a = a + 4
  local members = {}
  for b = 1, blocks do
    members[2 * b - 1] = '0'
    members[2 * b] = ARGV[a] .. head .. ARGV[a + 1]
    a = a + 2
  end
  local names = {'meta'}
  for f = 1, fields do names[f + 1] = ARGV[a + 2 * f - 2] end
  local current = redis.call('HMGET', rollups, unpack(names))

  local _, expiry, held, check_at, cleaned
  local created = not current[1]
  if created then
    -- A new type, or one forgotten since: the service has registered it until `registered`.
    if registered <= now then
      return redis.error_reply('UNREGISTERED type ' .. i .. ' of the call')
    end
    expiry, held, check_at, cleaned = registered, 0, cap, minute_now
  else
    _, expiry, held, check_at, cleaned = struct.unpack(meta_format, current[1])
  end

  redis.call('ZADD', set, unpack(members))
  redis.call('ZADD', index, unpack(members))
  held = held + points
  if held > check_at then
    held = trim_to_cap(set, held)
    check_at = math.max(cap, held) + math.max(64, math.floor(cap / 16))
  end

  local update = {}
  for f = 1, fields do
    update[2 * f - 1] = ARGV[a]
    update[2 * f] = merge(current[f + 1], ARGV[a + 1])
    a = a + 2
  end

  -- Minute buckets live for 1441 minutes and hour buckets for 1500: the ones that expired since
  -- the type's last call are deleted (each at most once).
  if cleaned < minute_now then
    local gone = {}
    for m = math.max(cleaned, minute_now - 1441) - 1440, minute_now - 1441 do
      gone[#gone + 1] = 'm' .. m
    end
    for h = math.floor((math.max(cleaned, minute_now - 1500) - 1500) / 60) + 1,
        math.floor((minute_now - 1500) / 60) do
      gone[#gone + 1] = 'h' .. h
    end
    if #gone > 0 then redis.call('HDEL', rollups, unpack(gone)) end
    cleaned = minute_now
  end

  -- A type lives `lifetime` after its last point. Its expiry moves forward a sixteenth of that
  -- more than needed, so that it moves (and the registration is renewed) rarely.
  local moved = created
  if expiry < now + lifetime then
    expiry = now + lifetime + math.floor(lifetime / 16)
    moved = true
    out[#out + 1] = i
    out[#out + 1] = expiry
  end
  update[#update + 1] = 'meta'
  update[#update + 1] = struct.pack(meta_format, 1, expiry, held, check_at, cleaned)
  redis.call('HSET', rollups, unpack(update))
  if moved then
    redis.call('PEXPIREAT', set, expiry)
    redis.call('PEXPIREAT', rollups, expiry)
  end
end

for r = 1, records do
  redis.call('SET', KEYS[first_record + r - 1], ARGV[a], 'PX', record_ttl)
  a = a + 1
end

-- Retention counts from arrival. Every sixty-fourth of the retention a pass over the oldest end
-- of the index (blocks whose newest point is below `pass_below`, the cutoff plus the furthest a
-- timestamp may lie ahead of its arrival) removes the blocks that arrived before the cutoff, from
-- the index and from their type's set, 256 a call. Lists never show such blocks meanwhile: they
-- filter by arrival.
local pass = redis.call('HMGET', tag, 'next', 'from')
if now >= (tonumber(pass[1]) or 0) then
  local cutoff = (now - retention) * 1000
  local from = tonumber(pass[2]) or 0
  local scan = redis.call('ZRANGE', index, '-', '(' .. pass_below, 'BYLEX', 'LIMIT', from, 256)
  local expired, gone_from = {}, {}
  for _, b in ipairs(scan) do
    if (struct.unpack('>i8', b, at_arrival)) < cutoff then
      expired[#expired + 1] = b
      local type = string.sub(b, at_type + 1, at_type + string.byte(b, at_type))
      if redis.call('ZREM', key_prefix .. 'p:' .. type, b) == 1 then
        gone_from[type] = (gone_from[type] or 0) + points_of(b)
      end
    end
  end
  if #expired > 0 then redis.call('ZREM', index, unpack(expired)) end
  -- The points held by each type whose set lost blocks (a forgotten type has no state left).
  for type, points in pairs(gone_from) do
    local key = key_prefix .. 'r:' .. type
    local state = redis.call('HGET', key, 'meta')
    if state then
      local _, expiry, held, check_at, cleaned = struct.unpack(meta_format, state)
      redis.call('HSET', key, 'meta', struct.pack(meta_format, 1, expiry, held - points,
                                                   check_at, cleaned))
    end
  end
  local every = math.max(1000, math.floor(retention / 64))
  if #scan < 256 then
    redis.call('HSET', tag, 'next', now + every, 'from', 0)
    -- Everything in the index arrived before now, so none of it is visible after
    -- now + retention: the index and the tag's state need not outlive that by more than a pass.
    redis.call('PEXPIREAT', index, now + retention + every)
    redis.call('PEXPIREAT', tag, now + retention + every)
  else
    redis.call('HSET', tag, 'from', from + #scan - #expired)
  end
end

return out
