-- POST /api/metrics/batch: bodies of BENCH_BATCH_SIZE (default 100) metrics, each of one of
-- BENCH_BATCH_TYPES (default 10) types in turn, stamped with the current time (whole seconds,
-- UTC), with varying values.
--   wrk -t2 -c64 -d10s -s bench/wrk/ingest_batch.lua http://127.0.0.1:PORT/api/metrics/batch
--
-- As in ingest.lua, each request text is formatted once per second (a pool of
-- BENCH_INGEST_POOL, default 200, taken in turn) and sent again until the second changes; every
-- request still stores new points.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")

local size = tonumber(os.getenv("BENCH_BATCH_SIZE") or "") or 100
local type_count = tonumber(os.getenv("BENCH_BATCH_TYPES") or "") or 10
local pool_size = tonumber(os.getenv("BENCH_INGEST_POOL") or "") or 200
local headers = { ["Content-Type"] = "application/json" }
local pool = {}
local built_for = {}
local next_index = 1
local last_second, stamp = -1, nil

function request()
   local now = os.time()
   if now ~= last_second then
      last_second = now
      stamp = os.date("!%Y-%m-%dT%H:%M:%SZ", now)
   end
   local i = next_index
   next_index = next_index % pool_size + 1
   if built_for[i] ~= now then
      built_for[i] = now
      local items = {}
      for k = 1, size do
         items[k] = string.format('{"timestamp":"%s","value":%d.%d,"type":"bench_batch_%d"}',
                                  stamp, (i + k) % 100, k % 10, k % type_count)
      end
      pool[i] = wrk.format("POST", "/api/metrics/batch", headers, "[" .. table.concat(items, ",") .. "]")
   end
   return pool[i]
end
