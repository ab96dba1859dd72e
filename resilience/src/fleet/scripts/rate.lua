-- A replica's block of a rate limiter's tokens. KEYS[1] holds the fleet's one GCRA state: the
-- theoretical arrival time (TAT), in whole µs on Redis' clock. KEYS[2] records what each
-- replica holds, a hash: replica -> "<held>:<granted>:<position>:<expiry>", as of its last
-- call: the tokens it held, those it was granted, the first granted token's place in the TAT
-- (µs), and when the record lapses (ms) unless renewed. Tokens a replica holds are the
-- fleet's too: the bucket holds at most `burst` less them. Granted tokens count from the time
-- their place in the TAT is past (before, the TAT itself counts them).
-- The replica first gives back `returned` tokens it did not spend, then reserves the most of
-- `want` whose last falls due within `ahead` µs from now: the tokens there now, then those the
-- rate earns next, in the order the replicas ask (a reservation queues behind those made
-- before it).
-- The answer is {tokens granted, µs until the last of them falls due, µs until `want` more
-- could be reserved}; the granted tokens fall due one interval apart, up to the last (those
-- the bucket holds now are due at once).
-- ARGV: want, returned, interval (µs a token is worth), tolerance (µs a full bucket is
-- worth), ahead (µs), replica, holds (the tokens it holds and has reserved once `returned` are
-- given back), lease (ms)
local key, held = KEYS[1], KEYS[2]
local want, returned = tonumber(ARGV[1]), tonumber(ARGV[2])
local interval, tolerance = tonumber(ARGV[3]), tonumber(ARGV[4])
local ahead, replica, holds, lease = tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8])
local now, now_ms = rate_now(key, held)
-- What the other replicas hold, their expired records dropped. No replica holds more than the
-- burst: a record above it is malformed (it would empty the bucket for as long as it lasts).
local burst = math.floor(tolerance / interval + 0.5)
local others = holdings(held, replica, now, now_ms, burst, true)
local tat = now
local stored = redis.call('GET', key)
if stored then tat = whole(key, 'value', stored) end
tat = math.max(tat - returned * interval, now, now + (others + holds) * interval)
local granted = math.floor((now + tolerance + ahead - tat) / interval)
granted = math.max(math.min(granted, want), 0)
local place = math.ceil(tat + interval)
tat = math.ceil(tat + granted * interval)
local last = math.max(tat - tolerance - now, 0)
local wait = math.max(math.ceil(tat + want * interval - now - tolerance - ahead), 0)
redis.call('SET', key, string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
if holds + granted > 0 then
  local record = string.format('%.0f:%.0f:%.0f:%.0f', holds, granted, place, now_ms + lease)
  redis.call('HSET', held, replica, record)
  redis.call('PEXPIRE', held, lease)
else
  redis.call('HDEL', held, replica)
end
return {granted, math.ceil(last), wait}
