-- Stores one call's metric points, all of types that share one hash tag, and folds them into
-- their types' rollups. KEYS and ARGV are laid out by metrics/store_call.hpp (the one place that
-- names them, used by the service and the tests):
--
-- KEYS: the tag's index (sorted set of every block of the tag), the tag's state (hash: the
--       retention pass's schedule and cursor), then per type its blocks (sorted set) and its
--       rollups (hash), then one idempotency record per request that has a key.
-- ARGV: the call's head: its numbers (struct '<dddddddd': now in ms on the service's clock,
--       retention (ms), points kept per type, type lifetime (ms), types, records, record
--       lifetime (ms), and 1 when the call looks whether a retention pass is due), then the
--       order prefix below which the retention pass looks (8 bytes), then the tag's key prefix
--       (`m:{tag}:`); then per type: its numbers (struct '<dddd': registered until (ms), points,
--       blocks, rollup fields) followed by the call's share of each rollup field (73 bytes
--       each), its blocks, then the names of its rollup fields; then per record its answer.
-- Every value an argument holds costs Redis a Lua string and a table slot before the script
-- runs, so the numbers that are only read travel together in one argument.
--
-- A block is all of one type's points of one call within one minute of their timestamps, made
-- whole by the service (metrics/block.hpp) so that one ZADD into the type's set and one into the
-- index store every point of it, and the script never looks inside one but for the few header
-- fields it reads at fixed offsets when it trims.
--
-- Returns {0, [position, expiry]...}: for each type (1-based position) whose lifetime moved
-- forward, the new expiry, to which the service renews its registration. When a record of one
-- of the call's requests exists already, returns {-1, record or false per request} and writes
-- nothing.

local unpack_struct, pack, sub = struct.unpack, struct.pack, string.sub
local floor, max = math.floor, math.max
local call = redis.call
local head = ARGV[1]
local now, retention, cap, lifetime, types, records, record_ttl, look_for_pass =
  unpack_struct('<dddddddd', head)

local index, tag = KEYS[1], KEYS[2]
local first_record = 3 + 2 * types

-- A repeated request stores nothing more: the service answers it from its record.
if records > 0 then
  local found = call('MGET', unpack(KEYS, first_record, first_record + records - 1))
  for i = 1, records do
    if found[i] then
      table.insert(found, 1, -1)
      return found
    end
  end
end

local minute_now = floor(now / 60000)

-- Offsets (1-based) in a member.
local at_arrival, at_minute, at_points, at_type = 9, 25, 33, 35

local abs, ldexp, huge = math.abs, math.ldexp, math.huge
local rollup_format = '<Bddddddddd'
-- Neumaier's compensated sum: s + x, with c collecting what rounding drops.
local function add(s, c, x)
  local t = s + x
  if abs(s) >= abs(x) then
    return t, c + ((s - t) + x)
  end
  return t, c + ((x - t) + s)
end
-- The rollup `old` (nil: none yet) with the call's share added, read at `at` in `shares`.
local function merge(old, shares, at)
  if not old then return sub(shares, at, at + 72) end
  local _, n1, s1, c1, e1, mn1, mx1, lv1, lms1, lus1 = unpack_struct(rollup_format, old)
  local _, n2, s2, c2, e2, mn2, mx2, lv2, lms2, lus2 = unpack_struct(rollup_format, shares, at)
  if e1 < e2 then
    s1, c1, e1 = ldexp(s1, e1 - e2), ldexp(c1, e1 - e2), e2
  elseif e2 < e1 then
    s2, c2 = ldexp(s2, e2 - e1), ldexp(c2, e2 - e1)
  end
  -- add(s1, c1, s2), then c2 into it, written out: this runs three times per type and call.
  local s = s1 + s2
  local c
  if abs(s1) >= abs(s2) then c = c1 + ((s1 - s) + s2) else c = c1 + ((s2 - s) + s1) end
  local t = s + c2
  if abs(s) >= abs(c2) then c = c + ((s - t) + c2) else c = c + ((c2 - t) + s) end
  s = t
  if e1 == 0 and (s == huge or s == -huge) then
    s, c = add(ldexp(s1, -64), ldexp(c1, -64), ldexp(s2, -64))
    s, c = add(s, c, ldexp(c2, -64))
    e1 = 64
  end
  if mn1 <= mn2 then mn2 = mn1 end
  if mx1 >= mx2 then mx2 = mx1 end
  if lms1 > lms2 or (lms1 == lms2 and lus1 > lus2) then
    lv2, lms2, lus2 = lv1, lms1, lus1
  end
  return pack(rollup_format, 2, n1 + n2, s, c, e1, mn2, mx2, lv2, lms2, lus2)
end

local function minute_of(block) return (unpack_struct('>i8', block, at_minute)) end
local function points_of(block) return (unpack_struct('>H', block, at_points)) end

-- Keeps at least `cap` points: whole minutes go from the oldest end while what stays holds at
-- least `cap` points, every one newer than every point removed (a block never spans minutes),
-- so the newest `cap` points always stay. Returns the number of points held.
local function trim_to_cap(set, held)
  for _ = 1, 16 do
    local oldest = call('ZRANGE', set, 0, 255)
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
    call('ZREM', set, unpack(blocks))
    call('ZREM', index, unpack(blocks))
    held = held - points
  end
  return held
end

-- A type's own state, in the field `meta` of its rollups: expiry (ms), points held, the count
-- at which the cap is checked next, the last minute whose expired buckets were deleted.
local meta_format = '<Bdddd'
-- Where a type's first share starts in its numbers' argument, and each share's size.
local first_share, share_size = 33, 73

local out = {0}
-- The call's blocks for the index: the one block of a call of one type and one minute (the
-- common call) goes in as it is, more are gathered into one ZADD.
local only_block, indexed
local a = 2
for i = 1, types do
  local set, rollups = KEYS[1 + 2 * i], KEYS[2 + 2 * i]
  local numbers = ARGV[a]
  local registered, points, blocks, fields = unpack_struct('<dddd', numbers)
  local first_block, first_name = a + 1, a + 1 + blocks
  a = first_name + fields
  local current
  if fields == 3 then
    current = call('HMGET', rollups, 'meta', ARGV[first_name], ARGV[first_name + 1],
                   ARGV[first_name + 2])
  else
    current = call('HMGET', rollups, 'meta', unpack(ARGV, first_name, a - 1))
  end

  local _, expiry, held, check_at, cleaned
  local created = not current[1]
  if created then
    -- A new type, or one forgotten since: the service has registered it until `registered`.
    if registered <= now then
      return redis.error_reply('UNREGISTERED type ' .. i .. ' of the call')
    end
    expiry, held, check_at, cleaned = registered, 0, cap, minute_now
  else
    _, expiry, held, check_at, cleaned = unpack_struct(meta_format, current[1])
  end

  if blocks == 1 then
    call('ZADD', set, '0', ARGV[first_block])
    if types == 1 then
      only_block = ARGV[first_block]
    else
      indexed = indexed or {}
      indexed[#indexed + 1] = '0'
      indexed[#indexed + 1] = ARGV[first_block]
    end
  elseif blocks > 1 then
    local members = {}
    for b = 1, blocks do
      members[2 * b - 1] = '0'
      members[2 * b] = ARGV[first_block + b - 1]
    end
    call('ZADD', set, unpack(members))
    indexed = indexed or {}
    for m = 1, #members do indexed[#indexed + 1] = members[m] end
  end
  held = held + points
  if held > check_at then
    held = trim_to_cap(set, held)
    check_at = max(cap, held) + max(64, floor(cap / 16))
  end

  -- Minute buckets live for 1441 minutes and hour buckets for 1500: the ones that expired since
  -- the type's last call are deleted (each at most once), before the call's own are written.
  if cleaned < minute_now then
    local gone = {}
    for m = max(cleaned, minute_now - 1441) - 1440, minute_now - 1441 do
      gone[#gone + 1] = 'm' .. m
    end
    for h = floor((max(cleaned, minute_now - 1500) - 1500) / 60) + 1,
        floor((minute_now - 1500) / 60) do
      gone[#gone + 1] = 'h' .. h
    end
    if #gone > 0 then call('HDEL', rollups, unpack(gone)) end
    cleaned = minute_now
  end

  -- A type lives `lifetime` after its last point. Its expiry moves forward a sixteenth of that
  -- more than needed, so that it moves (and the registration is renewed) rarely.
  local moved = created
  if expiry < now + lifetime then
    expiry = now + lifetime + floor(lifetime / 16)
    moved = true
    out[#out + 1] = i
    out[#out + 1] = expiry
  end
  local meta = pack(meta_format, 1, expiry, held, check_at, cleaned)
  if fields == 3 then
    call('HSET', rollups,
         ARGV[first_name], merge(current[2], numbers, first_share),
         ARGV[first_name + 1], merge(current[3], numbers, first_share + share_size),
         ARGV[first_name + 2], merge(current[4], numbers, first_share + 2 * share_size),
         'meta', meta)
  else
    local update = {}
    for f = 1, fields do
      update[2 * f - 1] = ARGV[first_name + f - 1]
      update[2 * f] = merge(current[f + 1], numbers, first_share + (f - 1) * share_size)
    end
    update[2 * fields + 1] = 'meta'
    update[2 * fields + 2] = meta
    call('HSET', rollups, unpack(update))
  end
  if moved then
    call('PEXPIREAT', set, expiry)
    call('PEXPIREAT', rollups, expiry)
  end
end

-- Every block of the call goes into the tag's index at once.
if only_block then
  call('ZADD', index, '0', only_block)
elseif indexed then
  call('ZADD', index, unpack(indexed))
end

for r = 1, records do
  call('SET', KEYS[first_record + r - 1], ARGV[a], 'PX', record_ttl)
  a = a + 1
end

-- Retention counts from arrival. About every sixty-fourth of the retention a pass over the oldest
-- end of the index (blocks whose newest point is below `pass_below`, the cutoff plus the furthest
-- a timestamp may lie ahead of its arrival) removes the blocks that arrived before the cutoff,
-- from the index and from their type's set, 256 a call. Lists never show such blocks meanwhile:
-- they filter by arrival.
-- Whether a pass is due is looked at by one call in about sixteen (the service picks them).
local pass = look_for_pass == 1 and call('HMGET', tag, 'next', 'from') or {}
if pass[1] ~= nil and now >= (tonumber(pass[1]) or 0) then
  local cutoff = (now - retention) * 1000
  local pass_below, key_prefix = sub(head, 65, 72), sub(head, 73)
  local from = tonumber(pass[2]) or 0
  local scan = call('ZRANGE', index, '-', '(' .. pass_below, 'BYLEX', 'LIMIT', from, 256)
  local expired, gone_from = {}, {}
  for _, b in ipairs(scan) do
    if (unpack_struct('>i8', b, at_arrival)) < cutoff then
      expired[#expired + 1] = b
      -- The type's length is the low 7 bits of its byte (the high bit tells how values are kept).
      local type = string.sub(b, at_type + 1, at_type + string.byte(b, at_type) % 128)
      if call('ZREM', key_prefix .. 'p:' .. type, b) == 1 then
        gone_from[type] = (gone_from[type] or 0) + points_of(b)
      end
    end
  end
  if #expired > 0 then call('ZREM', index, unpack(expired)) end
  -- The points held by each type whose set lost blocks (a forgotten type has no state left).
  for type, points in pairs(gone_from) do
    local key = key_prefix .. 'r:' .. type
    local state = call('HGET', key, 'meta')
    if state then
      local _, expiry, held, check_at, cleaned = unpack_struct(meta_format, state)
      call('HSET', key, 'meta', pack(meta_format, 1, expiry, held - points,
                                           check_at, cleaned))
    end
  end
  local every = max(1000, floor(retention / 64))
  if #scan < 256 then
    call('HSET', tag, 'next', now + every, 'from', 0)
    -- Everything in the index arrived before now, so none of it is visible after
    -- now + retention: the index and the tag's state need not outlive that by more than a pass.
    call('PEXPIREAT', index, now + retention + every)
    call('PEXPIREAT', tag, now + retention + every)
  else
    call('HSET', tag, 'from', from + #scan - #expired)
  end
end

return out
