-- Failures a replica's closed breaker recorded, for the fleet's count (policy share_open): the
-- fleet's consecutive failures, in the order Redis receives them. A reset (a success that
-- ended a run of that replica's own failures) zeroes the count first; then the failures are
-- added, and at failure_threshold the fleet opens as open.lua opens it. Counted only while the
-- fleet is closed and the replica knows its latest transition (the epoch it sends): failures
-- from before a transition are not carried over, and a count of an older epoch is stale.
-- The count lapses a lease (ms) after the last failure it took: failures further apart are
-- no run, and a count left by a replica that stopped does not stay for ever.
-- The answer's n is the count after it when closed.
-- ARGV: channel, breaker, replica, the epoch the replica knows, reset (1 or 0), failures,
--       failure_threshold, recovery timeout (ms), lease (ms)
local channel, breaker, replica = ARGV[1], ARGV[2], ARGV[3]
local known, reset, failures = tonumber(ARGV[4]), ARGV[5] == '1', tonumber(ARGV[6])
local threshold, recovery, lease = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local now = now_ms()
local state, epoch, untl = load_state(KEYS[1])
if state ~= 'closed' or epoch ~= known then
  return answer(0, state, epoch, now, untl)
end
local key = KEYS[4]
local kind = redis.call('TYPE', key)['ok']
if kind == 'string' then bad(key, 'value', redis.call('GET', key)) end
if kind ~= 'hash' and kind ~= 'none' then bad(key, 'type', kind) end
local count = 0
local v = redis.call('HMGET', key, 'epoch', 'count')
if v[1] and whole(key, 'epoch', v[1]) == epoch then
  count = v[2] and whole(key, 'count', v[2]) or 0
end
if reset then count = 0 end
count = count + failures
if count >= threshold then
  redis.call('DEL', key)
  return open_fleet(channel, breaker, replica, epoch, now, recovery)
end
if count == 0 then
  redis.call('DEL', key)
else
  redis.call('HSET', key, 'epoch', epoch, 'count', count)
  redis.call('PEXPIRE', key, lease)
end
return {0, 'closed', epoch, count}
