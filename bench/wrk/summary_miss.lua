-- GET /api/metrics/summary for a type never asked before on every request, so every one is a cache
-- miss (rollup read + simulated upstream call through the breaker + SETEX), cycling the period
-- through all, daily and hourly. The types hold no metrics (count 0, nulls): the cost is the miss
-- path itself, which docs/contract.md (Summary) says must not depend on how much is stored.
--   wrk -t2 -c64 -d10s -s bench/wrk/summary_miss.lua http://127.0.0.1:PORT
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")

local periods = { "all", "daily", "hourly" }
local prefix = (os.getenv("BENCH_MISS_PREFIX") or "miss") .. "_" .. os.time()
local counter = 0

local base_init = init
function init(args)
   base_init(args)
   -- thread_id was set by setup() in report.lua before init runs.
   prefix = prefix .. "_" .. tostring(thread_id or 0)
end

function request()
   counter = counter + 1
   return wrk.format("GET", string.format("/api/metrics/summary?type=%s_%d&period=%s", prefix,
                                          counter, periods[counter % 3 + 1]))
end
