-- POST /api/metrics with a fresh body per request: the current time (whole seconds, UTC),
-- a varying value, and one of BENCH_INGEST_TYPES types (comma-separated, default
-- bench_cpu,bench_mem,bench_disk,bench_net) in turn.
--   wrk -t2 -c64 -d10s -s bench/wrk/ingest.lua http://127.0.0.1:PORT
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")

local types = {}
for t in string.gmatch(os.getenv("BENCH_INGEST_TYPES") or "bench_cpu,bench_mem,bench_disk,bench_net",
                       "[^,]+") do
   table.insert(types, t)
end
local headers = { ["Content-Type"] = "application/json" }
local counter = 0
local last_second, stamp = -1, nil

function request()
   local now = os.time()
   if now ~= last_second then
      last_second = now
      stamp = os.date("!%Y-%m-%dT%H:%M:%SZ", now)
   end
   counter = counter + 1
   local body = string.format('{"timestamp":"%s","value":%d.%d,"type":"%s"}', stamp,
                              counter % 100, counter % 10, types[counter % #types + 1])
   return wrk.format("POST", "/api/metrics", headers, body)
end
