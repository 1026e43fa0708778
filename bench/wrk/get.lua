-- GET the URL given on wrk's command line, unchanged (wrk pre-builds the request once):
-- the nginx ceiling, /health, the cached summary and the list scenarios.
--   wrk -t2 -c64 -d10s -s bench/wrk/get.lua 'http://127.0.0.1:PORT/api/metrics/summary?type=x'
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")
