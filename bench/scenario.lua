-- One wrk scenario: each request goes to a random path from a file, from a random client.
-- wrk -s bench/scenario.lua URL -- METHOD PATHS_FILE CLIENTS
-- The server trusts 127.0.0.1 as a proxy, so X-Forwarded-For is the client it sees.

local method, body, paths, clients

function init(args)
  method = args[1]
  -- An empty body makes wrk send Content-Length: 0, as a browser's bodiless POST does.
  body = (method ~= "GET") and "" or nil
  paths = {}
  for line in io.lines(args[2]) do
    paths[#paths + 1] = line
  end
  clients = {}
  for i = 1, tonumber(args[3]) do
    clients[i] = string.format("10.%d.%d.%d",
      math.floor(i / 65536) % 256, math.floor(i / 256) % 256, i % 256)
  end
  -- Each wrk thread has its own Lua state; seed it so threads do not repeat one another.
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16))
end

function request()
  local headers = { ["X-Forwarded-For"] = clients[math.random(#clients)] }
  return wrk.format(method, paths[math.random(#paths)], headers, body)
end

-- One machine-readable line for bench/run.py; latencies in microseconds.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"non_2xx":%d,"socket_errors":%d,' ..
    '"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
