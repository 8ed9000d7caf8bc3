-- wrk script for scripts/bench: the same EM requests go to hotdesk and to nginx, so that the two
-- figures of a row differ only in the server.
--
--   BENCH_SCENARIO=query  deviceUserQuery of one device picked at random among BENCH_ENTITIES
--   BENCH_SCENARIO=login  each request logs a new user into a new device: thread t of T sends
--                         pairs o+t, o+t+T, o+t+2T, ... (LGDEVi with lguseri, o = BENCH_OFFSET),
--                         so no pair repeats; past BENCH_ENTITIES it sends queries instead
--
-- Every answer is checked: an HTTP status other than 200 or an EM <failure> counts as an error.
-- When a thread has one connection (wrk -c equal to -t), each answer is to the request made just
-- before it, so the thread knows exactly which logins were acknowledged and writes them to
-- BENCH_ACKED_FILE; the bench script then looks each of them up in the store.

local scenario = os.getenv("BENCH_SCENARIO") or "query"
local entities = tonumber(os.getenv("BENCH_ENTITIES") or "2000")
-- Login runs after the first start past the pairs the earlier ones used.
local offset = tonumber(os.getenv("BENCH_OFFSET") or "0")
local app = "<appInfo><appID>appid</appID><appCertificate>apppasswd</appCertificate></appInfo>"

local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local function form(xml)
  return "xml=" .. xml:gsub("[<>/]", function(c) return string.format("%%%02X", c:byte()) end)
end

local function name(prefix, i)
  return string.format("%s%05d", prefix, i)
end

local function query(i)
  return form("<query>" .. app .. "<deviceUserQuery><deviceName>" .. name("LGDEV", i) ..
    "</deviceName></deviceUserQuery></query>")
end

local function login(i)
  return form("<request>" .. app .. "<login><deviceName>" .. name("LGDEV", i) ..
    "</deviceName><userID>" .. name("lguser", i) ..
    "</userID><deviceProfile>LGPROF</deviceProfile><exclusiveDuration><time>60</time>" ..
    "</exclusiveDuration></login></request>")
end

function init(args)
  -- id comes from setup(), which runs in another Lua state; the thread count from the script.
  nthreads = tonumber(os.getenv("BENCH_THREADS"))
  sent, acked, errors, beyond = 0, 0, 0, 0
  last = -1   -- the pair of the last login request made, -1 after a query
  top = -1    -- the highest pair sent
  acked_pairs = {}
  math.randomseed(1 + id)
  wrk.method = "POST"
  wrk.path = "/emservice/EMServiceServlet"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end

function request()
  local body
  if scenario == "login" then
    local i = offset + id + sent * nthreads
    if i < entities then
      body = login(i)
      sent = sent + 1
      last = i
      top = i
    else
      beyond = beyond + 1
      last = -1
      body = query(math.random(0, entities - 1))
    end
  else
    body = query(math.random(0, entities - 1))
  end
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status ~= 200 or body:find("<failure", 1, true) then
    errors = errors + 1
    if errors == 1 then io.stderr:write("first error: " .. status .. " " .. body .. "\n") end
  elseif scenario == "login" and last >= 0 then
    acked = acked + 1
    table.insert(acked_pairs, last)
  end
end

function done(summary, latency, requests)
  local s, a, e, b, top_pair = 0, 0, 0, 0, -1
  local out = os.getenv("BENCH_ACKED_FILE")
  local f = out and io.open(out, "w")
  for _, t in ipairs(threads) do
    s, a, e, b = s + t:get("sent"), a + t:get("acked"), e + t:get("errors"), b + t:get("beyond")
    top_pair = math.max(top_pair, t:get("top"))
    if f then
      for _, i in ipairs(t:get("acked_pairs")) do f:write(i, "\n") end
    end
  end
  if f then f:close() end
  io.write(string.format(
    "BENCH requests=%d rps=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f errors=%d " ..
    "socket_errors=%d logins_sent=%d logins_acked=%d beyond=%d next_pair=%d\n",
    summary.requests, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    e, summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout + summary.errors.status, s, a, b, top_pair + 1))
end
