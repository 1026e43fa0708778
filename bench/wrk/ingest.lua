-- POST /api/metrics: bodies stamped with the current time (whole seconds, UTC), with varying
-- values and one of BENCH_INGEST_TYPES types (comma-separated, default
-- bench_cpu,bench_mem,bench_disk,bench_net) in turn.
--   wrk -t2 -c64 -d10s -s bench/wrk/ingest.lua http://127.0.0.1:PORT
--
-- BENCH_IDEMPOTENCY_KEYS=1 gives every request an Idempotency-Key of its own (so every one is
-- still stored), and then formats every request anew.
--
-- Each request text is formatted once per second and sent again until the second changes (a
-- pool of BENCH_INGEST_POOL, default 1000, taken in turn), instead of once per request:
-- formatting every request cost wrk 1-3 us more per request (about 13-15 us against 12), CPU that
-- the service and Redis share with it on the same cores. Every request is still a new point:
-- equal bodies are stored as distinct points.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")

local types = {}
for t in string.gmatch(os.getenv("BENCH_INGEST_TYPES") or "bench_cpu,bench_mem,bench_disk,bench_net",
                       "[^,]+") do
   table.insert(types, t)
end
local pool_size = tonumber(os.getenv("BENCH_INGEST_POOL") or "") or 1000
local with_keys = os.getenv("BENCH_IDEMPOTENCY_KEYS") == "1"
local key_prefix = nil -- per wrk thread (report.lua's setup names each thread), per run
local sent = 0
local headers = { ["Content-Type"] = "application/json" }
local pool = {}
local built_for = {} -- the second each pool entry was formatted for
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
   if with_keys then
      sent = sent + 1
      key_prefix = key_prefix or string.format("bench-%d-%s-", os.time(), tostring(thread_id))
      local body = string.format('{"timestamp":"%s","value":%d.%d,"type":"%s"}', stamp,
                                 i % 100, i % 10, types[i % #types + 1])
      local keyed = { ["Content-Type"] = "application/json",
                      ["Idempotency-Key"] = key_prefix .. sent }
      return wrk.format("POST", "/api/metrics", keyed, body)
   end
   if built_for[i] ~= now then
      built_for[i] = now
      local body = string.format('{"timestamp":"%s","value":%d.%d,"type":"%s"}', stamp,
                                 i % 100, i % 10, types[i % #types + 1])
      pool[i] = wrk.format("POST", "/api/metrics", headers, body)
   end
   return pool[i]
end
