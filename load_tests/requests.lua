-- wrk script: replays prepared HTTP requests, weighted, and prints one JSON line when done.
-- REQUESTS names a manifest of lines "weight<TAB>method<TAB>path<TAB>content-type<TAB>body-file".
local requests = {}
local count = 0

local function read(path)
  local file = assert(io.open(path, "rb"))
  local data = file:read("*all")
  file:close()
  return data
end

function init(args)
  for line in io.lines(os.getenv("REQUESTS")) do
    local weight, method, path, content_type, body_file = line:match("^(%d+)\t([^\t]+)\t([^\t]+)\t([^\t]+)\t(.+)$")
    local formatted = wrk.format(method, path, { ["Content-Type"] = content_type }, read(body_file))
    for _ = 1, tonumber(weight) do
      table.insert(requests, formatted)
    end
  end
end

function request()
  count = count + 1
  return requests[(count - 1) % #requests + 1]
end

function done(summary, latency, _)
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_s": %.3f, "socket_errors": %d, "http_errors": %d, ' ..
    '"p50_ms": %.2f, "p90_ms": %.2f, "p99_ms": %.2f, "mean_ms": %.2f, "max_ms": %.2f}\n',
    summary.requests, summary.duration / 1e6,
    errors.connect + errors.read + errors.write + errors.timeout, errors.status,
    latency:percentile(50) / 1e3, latency:percentile(90) / 1e3, latency:percentile(99) / 1e3,
    latency.mean / 1e3, latency.max / 1e3))
end
