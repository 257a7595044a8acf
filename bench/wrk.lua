-- wrk script for bench/run. The mode comes from the environment:
--   BENCH_MODE=plain   POST a small JSON body to "/" (the bare evhttp and nginx ceilings)
--   BENCH_MODE=single  POST one webhook notification to /v1/notifications
--   BENCH_MODE=batch   POST BENCH_BATCH webhook notifications to /v1/notifications/batch
-- BENCH_KEY is the API key, BENCH_HOOK the webhook recipient URL.
-- No response() hook: it would make wrk parse every answer in Lua and take CPU
-- from the server on a small machine. Non-2xx answers are counted by wrk itself
-- (summary.errors.status counts statuses >= 400); bench/run also compares the
-- rows stored with the requests wrk completed. bench/run gives wrk --timeout 10s:
-- a request unanswered by then counts as a socket error.
-- done() prints one machine-readable line starting with "BENCH ".

local mode = os.getenv("BENCH_MODE") or "plain"
local key = os.getenv("BENCH_KEY") or ""
local hook = os.getenv("BENCH_HOOK") or "http://127.0.0.1:9/hook"
local per = tonumber(os.getenv("BENCH_BATCH") or "100")

local function notification()
  return '{"channel":"webhook","recipient":"' .. hook .. '","subject":"bench",' ..
         '"body":"Order {{order}} shipped","metadata":{"order":"A-1042"}}'
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
if mode == "plain" then
  wrk.path = "/"
  wrk.body = notification()
elseif mode == "single" then
  wrk.path = "/v1/notifications"
  wrk.headers["Authorization"] = "Bearer " .. key
  wrk.body = notification()
elseif mode == "batch" then
  wrk.path = "/v1/notifications/batch"
  wrk.headers["Authorization"] = "Bearer " .. key
  local items = {}
  for i = 1, per do
    items[i] = notification()
  end
  wrk.body = '{"notifications":[' .. table.concat(items, ",") .. ']}'
else
  error("BENCH_MODE must be plain, single or batch")
end

function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    "BENCH requests=%d duration_s=%.3f rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f " ..
    "max_ms=%.3f status_errors=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    e.status, e.connect, e.read, e.write, e.timeout))
end
