-- wrk script: POSTs the body in BODY_FILE, with every "__N__" replaced by a number unique
-- to the request (ID_BASE, the run's number, then thread, then count), so the gateway
-- stores every message instead of answering resends: runs against the same database (and
-- two wrk processes at once) must each give a different ID_BASE.
local body_template
local id_base = tonumber(os.getenv("ID_BASE") or "0")
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(os.getenv("BODY_FILE"), "rb"))
  body_template = file:read("*a")
  file:close()
  wrk.method = "POST"
  wrk.headers["Content-Type"] = os.getenv("CONTENT_TYPE") or "application/json"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
  wrk.headers["Raccordo-Profile"] = os.getenv("PROFILE") or "canonical"
end

function request()
  counter = counter + 1
  -- Digits only: the number also makes a relationship code.
  local body = body_template:gsub("__N__", string.format("%d%d%09d", id_base, id, counter))
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  local statuses = {}
  io.write(string.format("requests %d, errors: connect %d read %d write %d status %d timeout %d\n",
    summary.requests, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout))
end
