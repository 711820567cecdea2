-- wrk script for benchmarks/ingest.py: POST pre-generated line-protocol bodies.
--
--   wrk -t T -c C -d D --timeout 30s -s wrk_post.lua URL -- BODY_DIR N_BODIES T
--
-- BODY_DIR holds body_00000.lp .. body_{N-1}.lp. Thread t (1-based) of T cycles through
-- its own share of the bodies (t, t+T, t+2T, ...), so threads never send the same body
-- and a body is only re-sent once its thread has gone through its whole share
-- ("wrapped"). The URL (path + query) is the write endpoint of the system under test.
--
-- done() prints machine-readable lines for ingest.py:
--   WRK summary requests=.. duration_us=.. bytes=.. connect=.. read=.. write=.. status=.. timeout=..
--   WRK latency_us mean=.. stdev=.. p50=.. p90=.. p99=.. p999=.. max=..
--   WRK thread id=.. share=.. sent=.. ok=.. non2xx=.. wrapped=..
--   WRK error status=.. body=..   (first non-2xx per thread, if any)

local reqs = {}
local nreqs = 0
local idx = 0
sent = 0
ok = 0
non2xx = 0
wrapped = 0
share = 0
first_error = ""

local threads = {}
local next_id = 1

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

function init(args)
   local dir, n, nthreads = args[1], tonumber(args[2]), tonumber(args[3])
   if dir == nil or n == nil or nthreads == nil then
      error("usage: wrk ... -s wrk_post.lua URL -- BODY_DIR N_BODIES N_THREADS")
   end
   local headers = { ["Content-Type"] = "text/plain; charset=utf-8" }
   local k = id -- set by setup()
   while k <= n do
      local path = string.format("%s/body_%05d.lp", dir, k - 1)
      local f = assert(io.open(path, "rb"))
      local body = f:read("*a")
      f:close()
      nreqs = nreqs + 1
      reqs[nreqs] = wrk.format("POST", nil, headers, body)
      k = k + nthreads
   end
   share = nreqs
   if nreqs == 0 then
      error("thread " .. id .. " got no bodies (need N_BODIES >= threads)")
   end
end

function request()
   if nreqs == 0 then
      -- the main Lua state (used by wrk only to check the request shape) never ran init()
      return wrk.format("POST", nil, nil, "")
   end
   idx = idx + 1
   if idx > nreqs then
      idx = 1
      wrapped = wrapped + 1
   end
   sent = sent + 1
   return reqs[idx]
end

function response(status, headers, body)
   if status >= 200 and status < 300 then
      ok = ok + 1
   else
      non2xx = non2xx + 1
      if first_error == "" then
         first_error = tostring(status) .. " " .. string.sub(tostring(body or ""), 1, 300):gsub("%s+", " ")
      end
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format("WRK summary requests=%d duration_us=%d bytes=%d connect=%d read=%d write=%d status=%d timeout=%d\n",
      summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout))
   io.write(string.format("WRK latency_us mean=%.1f stdev=%.1f p50=%d p90=%d p99=%d p999=%d max=%d\n",
      latency.mean, latency.stdev, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency:percentile(99.9), latency.max))
   for _, t in ipairs(threads) do
      io.write(string.format("WRK thread id=%d share=%d sent=%d ok=%d non2xx=%d wrapped=%d\n",
         t:get("id"), t:get("share"), t:get("sent"), t:get("ok"), t:get("non2xx"), t:get("wrapped")))
      local fe = t:get("first_error")
      if fe ~= nil and fe ~= "" then
         io.write("WRK error thread=" .. t:get("id") .. " " .. fe .. "\n")
      end
   end
end
