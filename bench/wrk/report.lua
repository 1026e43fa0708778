-- Shared by every scenario script: counts each response's status and X-Cache header per wrk
-- thread, and at the end prints one machine-readable line that bench/run.sh parses:
--
--   BENCH_RESULT requests=N duration_us=N bytes=N connect=N read=N write=N timeout=N
--                status_errors=N p50_us=N p90_us=N p99_us=N max_us=N mean_us=N
--                statuses=200:N,429:N x_cache=HIT:N,MISS:N
--
-- Every scenario, the nginx ceiling included, pays for this same `response` hook, so the
-- client-side cost is identical across the rows of the table. With BENCH_WRK_HOOK=0 there is no
-- hook (wrk is then ~25% cheaper per response): statuses and x_cache stay empty and only wrk's own
-- count of statuses >= 400 (status_errors) is known.
--
-- A scenario script does `dofile(<dir>/report.lua)` and may then define `request()`.

local threads = {}

function setup(thread)
   thread:set("thread_id", #threads)
   table.insert(threads, thread)
end

function init(args)
   statuses = {}
   x_cache = {}
end

if os.getenv("BENCH_WRK_HOOK") ~= "0" then
   function response(status, headers, body)
      statuses[status] = (statuses[status] or 0) + 1
      local cache = headers["X-Cache"] or headers["x-cache"]
      if cache then
         x_cache[cache] = (x_cache[cache] or 0) + 1
      end
   end
end

local function merge(into, from)
   for k, v in pairs(from or {}) do
      into[k] = (into[k] or 0) + v
   end
end

local function join(t)
   local keys = {}
   for k in pairs(t) do
      table.insert(keys, k)
   end
   table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
   local parts = {}
   for _, k in ipairs(keys) do
      table.insert(parts, tostring(k) .. ":" .. string.format("%d", t[k]))
   end
   return table.concat(parts, ",")
end

function done(summary, latency, requests)
   local all_statuses, all_cache = {}, {}
   for _, thread in ipairs(threads) do
      merge(all_statuses, thread:get("statuses"))
      merge(all_cache, thread:get("x_cache"))
   end
   local e = summary.errors
   io.write(string.format(
      "BENCH_RESULT requests=%d duration_us=%d bytes=%d connect=%d read=%d write=%d timeout=%d " ..
      "status_errors=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d mean_us=%d statuses=%s x_cache=%s\n",
      summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.timeout,
      e.status, latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean, join(all_statuses), join(all_cache)))
end
