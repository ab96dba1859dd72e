-- A replica's block of a rate limiter's tokens. KEYS[1] holds the fleet's one GCRA state: the
-- theoretical arrival time (TAT), in whole µs on Redis' clock. The replica first gives back
-- `returned` tokens it did not spend, then reserves the most of `want` whose last falls due
-- within `ahead` µs from now: the tokens there now, then those the rate earns next, in the
-- order the replicas ask (a reservation queues behind those made before it).
-- The answer is {tokens granted, µs until the last of them falls due, µs until `want` more
-- could be reserved}; the granted tokens fall due one interval apart, up to the last (those
-- the bucket holds now are due at once).
-- ARGV: want, returned, interval (µs a token is worth), tolerance (µs a full bucket is
-- worth), ahead (µs)
local key = KEYS[1]
local want, returned = tonumber(ARGV[1]), tonumber(ARGV[2])
local interval, tolerance = tonumber(ARGV[3]), tonumber(ARGV[4])
local ahead = tonumber(ARGV[5])
local kind = redis.call('TYPE', key)['ok']
if kind ~= 'string' and kind ~= 'none' then bad(key, 'type', kind) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = now
local stored = redis.call('GET', key)
if stored then tat = whole(key, 'value', stored) end
tat = math.max(tat - returned * interval, now)
local granted = math.floor((now + tolerance + ahead - tat) / interval)
granted = math.max(math.min(granted, want), 0)
tat = math.ceil(tat + granted * interval)
local last = math.max(tat - tolerance - now, 0)
local wait = math.max(math.ceil(tat + want * interval - now - tolerance - ahead), 0)
redis.call('SET', key, string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
return {granted, math.ceil(last), wait}
