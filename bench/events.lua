-- wrk script: POST unique events to /api/v1/events, SB_BATCH events per
-- request (1 = single-event requests). Ids carry the thread so they never
-- repeat across wrk's threads.
local batch = tonumber(os.getenv("SB_BATCH") or "1")
local token = os.getenv("SB_TOKEN") or "bench-token"
local run = os.getenv("SB_RUN") or "r"
local counter = 0
local threads = 0

-- Runs in the main Lua state; thread:set makes thread_id a global of each
-- thread's own state.
function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

local function event(n)
  return string.format(
    '{"id":"%s-t%d-%d","type":"lead.status_changed","time":"2026-11-24T10:00:00Z",' ..
    '"entity":{"type":"lead","id":"L%d","status":"new","pipeline":"sales"},' ..
    '"contact":{"emails":[{"address":"c%d@example.com"}],"name":"Иван"}}',
    run, thread_id, n, n % 5000, n % 5000)
end

function request()
  local parts = {}
  for i = 1, batch do
    counter = counter + 1
    parts[i] = event(counter)
  end
  local body = batch == 1 and parts[1] or ('{"events":[' .. table.concat(parts, ",") .. ']}')
  return wrk.format("POST", "/api/v1/events",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end
