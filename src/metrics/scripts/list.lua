-- Reads the newest blocks of one sorted set of blocks (a type's set, or a tag's index; the
-- member layout is in store.lua), newest first, skipping blocks that arrived before the cutoff,
-- until they hold at least the points wanted.
--
-- KEYS: the set. ARGV: points wanted, arrival cutoff (µs), the rank to start from.
-- Returns {next rank, next order prefix, block...}: the blocks read, and where the set goes on:
-- the rank and the order prefix (8 bytes) of the first block not read, or -1 and "" at its end.
-- A caller that needs every point newer than some point reads on from there.

local set = KEYS[1]
local wanted, cutoff, rank = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {-1, ''}
local have, read, chunk = 0, 0, 8
-- Offsets (1-based) in a member.
local at_arrival, at_points = 9, 33
while true do
  local blocks = redis.call('ZREVRANGE', set, rank, rank + chunk - 1)
  for i, b in ipairs(blocks) do
    if have >= wanted then
      out[1] = rank + i - 1
      out[2] = string.sub(b, 1, 8)
      return out
    end
    read = read + 1
    if (struct.unpack('>i8', b, at_arrival)) >= cutoff then
      out[#out + 1] = b
      have = have + (struct.unpack('>H', b, at_points))
    end
  end
  if #blocks < chunk then return out end
  rank = rank + chunk
  -- The next read is sized by the points per block seen so far, plus one block to look past.
  local per_block = math.max(have, 1) / read
  chunk = math.min(256, math.max(1, math.ceil((wanted - have) / per_block)) + 1)
end
