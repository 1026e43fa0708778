-- Admits metric types under the cap on distinct types, exactly, however many callers ask at once.
--
-- KEYS: the registry (sorted set: every registered type, scored by when it lapses, ms).
-- ARGV: now (ms), the most types, the expiry to register or renew until (ms), the mode ("all":
--       every type or none; "each": in order, while there is room), then the types.
-- Lapsed types are forgotten first: their data has expired, and they free their place. A known
-- type is renewed (an expiry never moves back); a new one is added if there is room.
-- Returns {types registered afterwards, then 1 or 0 per type asked for}.

local registry = KEYS[1]
local now, most, expiry, mode = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4]
redis.call('ZREMRANGEBYSCORE', registry, '-inf', now)
local count = redis.call('ZCARD', registry)
local known, new = {}, 0
for i = 5, #ARGV do
  known[i] = redis.call('ZSCORE', registry, ARGV[i]) ~= false
  if not known[i] then new = new + 1 end
end
local out = {0}
if mode == 'all' and count + new > most then
  out[1] = count
  for _ = 5, #ARGV do out[#out + 1] = 0 end
  return out
end
local add = {}
for i = 5, #ARGV do
  if known[i] or count < most then
    if not known[i] then count = count + 1 end
    add[#add + 1] = expiry
    add[#add + 1] = ARGV[i]
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
if #add > 0 then redis.call('ZADD', registry, 'GT', unpack(add)) end
out[1] = count
return out
