-- Shared by every script (prepended to each). A limit's script names its own keys. A breaker's
-- keys, one hash slot:
--   KEYS[1]  its state, a hash: state ("closed", "open", "half_open"), epoch (a count of the
--            fleet's transitions), until (the open deadline, ms on Redis' clock), by (the
--            replica that made the last transition)
--   KEYS[2]  its half-open probe leases, a sorted set: "<replica>#<n>" -> expiry (ms)
--   KEYS[3]  its quorum votes, a sorted set: replica -> time of its vote (ms)
--   KEYS[4]  (fail.lua) the fleet's count of its consecutive failures, a hash: epoch (the
--            fleet's epoch it was counted in: a count of another epoch is stale), count
-- Each script answers {changed, state, epoch, n}: the state after it ran; n is the open time
-- left (ms) when open, the probes granted by probe.lua when half-open.

-- Now, in ms on Redis' clock: the one clock of the fleet.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- A malformed field: an error naming the key, the field and the value, "BADVALUE <key>
-- <length of the field> <field> <length of the value> <value>" (a hash's field may hold
-- spaces; Redis may append where in the script it stopped).
local function bad(key, field, value)
  local shown = tostring(value)
  return error({err = 'BADVALUE ' .. key .. ' ' .. #field .. ' ' .. field .. ' ' .. #shown .. ' ' .. shown})
end

local function whole(key, field, value)
  local n = tonumber(value)
  if n == nil or n < 0 or n ~= math.floor(n) then bad(key, field, value) end
  return n
end

-- A rate limiter's keys checked (its theoretical arrival time a string, what its replicas
-- hold a hash, either absent), and Redis' clock read: now in µs, and in ms.
local function rate_now(key, held)
  local kind = redis.call('TYPE', key)['ok']
  if kind ~= 'string' and kind ~= 'none' then bad(key, 'type', kind) end
  kind = redis.call('TYPE', held)['ok']
  if kind ~= 'hash' and kind ~= 'none' then bad(held, 'type', kind) end
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  return now, math.floor(now / 1000)
end

-- The tokens the replicas other than `except` hold by their live records in `held`
-- ("<tokens>:<granted>:<place in the TAT, µs>:<expiry, ms>"; the granted ones count once their
-- place has come). A malformed record, or one holding more than `burst`, is a bad value: it
-- would empty the bucket for as long as it lasts. With `drop`, expired records are deleted.
local function holdings(held, except, now, now_ms, burst, drop)
  local holding = 0
  local records = redis.call('HGETALL', held)
  for i = 1, #records, 2 do
    local who, record = records[i], records[i + 1]
    if who ~= except then
      local tokens, granted, place, expiry = string.match(record, '^(%d+):(%d+):(%d+):(%d+)$')
      if not tokens or (burst and tonumber(tokens) + tonumber(granted) > burst) then
        bad(held, who, record)
      end
      if tonumber(expiry) > now_ms then
        holding = holding + tonumber(tokens)
        if now >= tonumber(place) then holding = holding + tonumber(granted) end
      elseif drop then
        redis.call('HDEL', held, who)
      end
    end
  end
  return holding
end

-- The breaker's fleet state: state, epoch, until. An absent key is a closed breaker.
local function load_state(key)
  local kind = redis.call('TYPE', key)['ok']
  if kind == 'string' then bad(key, 'value', redis.call('GET', key)) end
  if kind ~= 'hash' and kind ~= 'none' then bad(key, 'type', kind) end
  local v = redis.call('HMGET', key, 'state', 'epoch', 'until')
  local state = v[1] or 'closed'
  if state ~= 'closed' and state ~= 'open' and state ~= 'half_open' then
    bad(key, 'state', state)
  end
  local epoch = v[2] and whole(key, 'epoch', v[2]) or 0
  local untl = v[3] and whole(key, 'until', v[3]) or 0
  return state, epoch, untl
end

-- Records a fleet transition and tells every replica: "<breaker> <epoch> <state> <ms> <by>".
local function publish(channel, breaker, replica, state, epoch, ms)
  redis.call('PUBLISH', channel,
    breaker .. ' ' .. epoch .. ' ' .. state .. ' ' .. ms .. ' ' .. replica)
end

-- Opens the breaker for the fleet, from `epoch`: one deadline for every replica, `recovery`
-- ms from now on Redis' clock; the probe leases and quorum votes cleared; every replica told.
local function open_fleet(channel, breaker, replica, epoch, now, recovery)
  epoch = epoch + 1
  redis.call('HSET', KEYS[1], 'state', 'open', 'epoch', epoch, 'until', now + recovery,
    'by', replica)
  redis.call('DEL', KEYS[2], KEYS[3])
  publish(channel, breaker, replica, 'open', epoch, recovery)
  return {1, 'open', epoch, recovery}
end

local function answer(changed, state, epoch, now, untl)
  if state == 'open' then
    return {changed, state, epoch, math.max(untl - now, 0)}
  end
  return {changed, state, epoch, 0}
end
