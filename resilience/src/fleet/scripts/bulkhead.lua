-- A replica's lease on a bulkhead's slots for the fleet. KEYS[1] is a sorted set of
-- "<replica>#<n>" -> expiry (ms on Redis' clock): a slot held by a replica, until it expires
-- unless renewed. KEYS[2] exists while a replica is short of slots. The replica gives back
-- its slots #1..#held, then takes (or renews) #1..#n: the most of `need` that the slots other
-- replicas hold leave free under max_concurrent, and one spare (`spare` = 1) unless a replica
-- is short. The answer is {n, whether a replica is short}. A replica that dies stops renewing: its slots come free when
-- they expire.
-- ARGV: replica, held, need, spare, max_concurrent, lease (ms)
local key, short, replica = KEYS[1], KEYS[2], ARGV[1]
local held, need, spare = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local max, lease = tonumber(ARGV[5]), tonumber(ARGV[6])
local kind = redis.call('TYPE', key)['ok']
if kind == 'string' then bad(key, 'value', redis.call('GET', key)) end
if kind ~= 'zset' and kind ~= 'none' then bad(key, 'type', kind) end
local now = now_ms()
redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
for n = 1, held do
  redis.call('ZREM', key, replica .. '#' .. n)
end
local free = math.max(max - redis.call('ZCARD', key), 0)
local granted = math.min(need, free)
if granted < need then
  redis.call('SET', short, replica, 'PX', lease)
elseif spare > 0 and granted < free and redis.call('EXISTS', short) == 0 then
  granted = granted + 1
end
for n = 1, granted do
  redis.call('ZADD', key, now + lease, replica .. '#' .. n)
end
if redis.call('ZCARD', key) > 0 then
  redis.call('PEXPIRE', key, lease)
end
return {granted, redis.call('EXISTS', short)}
