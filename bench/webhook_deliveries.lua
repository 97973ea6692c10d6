-- wrk script for bench/webhook_ingest.py: each wrk thread posts its share of pre-signed Stripe
-- deliveries once, then stops and leaves a marker file (wrk itself runs until its -d or a SIGINT,
-- which the benchmark sends once every thread has finished).
-- Usage: wrk -t T -c C -s webhook_deliveries.lua URL -- FILE T MARKER_PREFIX
-- FILE holds the deliveries as "<signature length> <body length>\n<signature><body>" records.

local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock_id, bench_timespec *tp);
]]
local clock = ffi.new("bench_timespec")

local function now_us()
  ffi.C.clock_gettime(1, clock)  -- CLOCK_MONOTONIC: comparable across wrk's threads
  return tonumber(clock.tv_sec) * 1000000 + math.floor(tonumber(clock.tv_nsec) / 1000)
end

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local requests = {}
local sent = 0
local marker
answered = 0
failed = 0
first_us = 0
last_us = 0

function init(args)
  local file = assert(io.open(args[1], "rb"))
  local data = file:read("*a")
  file:close()
  local thread_count = tonumber(args[2])
  marker = args[3] .. id
  local position, index = 1, 0
  while position <= #data do
    local newline = data:find("\n", position, true)
    local sig_len, body_len = data:sub(position, newline - 1):match("(%d+) (%d+)")
    sig_len, body_len = tonumber(sig_len), tonumber(body_len)
    local signature = data:sub(newline + 1, newline + sig_len)
    local body = data:sub(newline + sig_len + 1, newline + sig_len + body_len)
    if index % thread_count == id then
      table.insert(requests, wrk.format("POST", "/stripe/webhook",
        {["Content-Type"] = "application/json", ["Stripe-Signature"] = signature}, body))
    end
    index = index + 1
    position = newline + sig_len + body_len + 1
  end
  health = wrk.format("GET", "/api/health")
  -- wrk calls request() once on thread 0's state to check the script before sending anything.
  checked = id ~= 0
end

function request()
  if not checked then
    checked = true
    return health
  end
  sent = sent + 1
  if sent == 1 then
    first_us = now_us()
  end
  if sent <= #requests then
    return requests[sent]
  end
  -- This thread's share is out; its other connections still wait for answers. A cheap request
  -- keeps the connection busy until then (it is not counted).
  return health
end

function response(status, headers, body)
  if body:find("received", 1, true) then
    answered = answered + 1
  elseif status ~= 200 then
    failed = failed + 1
  else
    return  -- the health check
  end
  if answered + failed == #requests then
    last_us = now_us()
    io.open(marker, "w"):close()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local total_answered, total_failed, first, last = 0, 0, nil, 0
  for _, thread in ipairs(threads) do
    total_answered = total_answered + thread:get("answered")
    total_failed = total_failed + thread:get("failed")
    first = math.min(first or thread:get("first_us"), thread:get("first_us"))
    last = math.max(last, thread:get("last_us"))
  end
  io.write(string.format("RESULT %d %d %d %d\n", total_answered, total_failed, last - first,
    latency:percentile(99)))
end
