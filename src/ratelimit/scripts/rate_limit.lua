-- The sliding window counter of the rate limit, deciding a batch of checks in order, exactly as
-- one call per check would (sliding_window_limiter.hpp; the arithmetic mirrors window_math.cpp:
-- `admits` is the same comparison on the same integers, exact because Lua numbers are doubles
-- and window_policy::checked keeps every product below 2^53).
--
-- KEYS: one hash per client (`ratelimit:{<tag>}:<client>`, every key of a call in one tag), with
--       fields w (a window index), c (that window's count) and p (the count of the window
--       before it).
-- ARGV: limit, window (ms), the time (ms; empty: the server's TIME, so that every instance
--       places a request in the same window), then per key the number of checks by its client.
-- A refused check writes nothing, so a flood cannot push its own Retry-After further away, and
-- a client none of whose checks was admitted is not written at all. Once one check of a client
-- is refused so is every later one of that client, so the first m of its checks were admitted.
-- Returns the window's elapsed ms, each client's previous and current counts as the batch found
-- them, then how many of each client's checks were admitted.
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local index = math.floor(now / window)
local elapsed = now - index * window
local previous, current, admitted, in_window = {}, {}, {}, {}
local clients = #KEYS
for k = 1, clients do
  local state = redis.call('HMGET', KEYS[k], 'w', 'c', 'p')
  local seen = tonumber(state[1])
  previous[k], current[k], in_window[k] = 0, 0, seen == index
  if seen == index then
    current[k] = tonumber(state[2]) or 0
    previous[k] = tonumber(state[3]) or 0
  elseif seen == index - 1 then
    previous[k] = tonumber(state[2]) or 0
  end
end
local out = {elapsed}
for k = 1, clients do
  out[2 * k] = previous[k]
  out[2 * k + 1] = current[k]
end
for k = 1, clients do
  local n, p, c = tonumber(ARGV[3 + k]), previous[k], current[k]
  -- The m-th check (from 0) passes when p * (window - elapsed) <= (limit - c - m - 1) * window.
  local room, m = (limit - c - 1) * window - p * (window - elapsed), 0
  while m < n and m * window <= room do m = m + 1 end
  current[k] = c + m
  admitted[k] = m > 0
  out[2 * clients + 1 + k] = m
end
-- The expiry is set by the first admitted request of a window: two windows from then is past
-- the end of the next window, the last in which this window's count weighs. Later requests
-- of the window leave it (HSET keeps a key's expiry), which spares a write per batch, and
-- write only the count, the one field that changed.
for k = 1, clients do
  if admitted[k] then
    local key = KEYS[k]
    if in_window[k] then
      redis.call('HSET', key, 'c', current[k])
    else
      redis.call('HSET', key, 'w', index, 'c', current[k], 'p', previous[k])
      redis.call('PEXPIRE', key, 2 * window)
    end
  end
end
return out
