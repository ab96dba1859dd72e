-- A replica's breaker is half-open (its open period ended). Once the fleet's deadline has
-- passed the fleet goes half-open; then the replica keeps up to `want` slots: its leases are
-- renewed up to that many and the rest given back, and it takes free slots up to that many,
-- within half_open_max_calls held by the whole fleet. A replica with no probe to make asks for
-- none, and its slots come free for the others at once; a lease expires unless renewed, so the
-- slots of a replica that died come free too. The answer's n is the number of probes this
-- replica may make at once.
-- ARGV: channel, breaker, replica, half_open_max_calls, lease (ms), want
local channel, breaker, replica = ARGV[1], ARGV[2], ARGV[3]
local slots, lease, want = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local now = now_ms()
local state, epoch, untl = load_state(KEYS[1])
if state == 'closed' or (state == 'open' and untl > now) then
  return answer(0, state, epoch, now, untl)
end
local changed = 0
if state == 'open' then
  epoch = epoch + 1
  redis.call('HSET', KEYS[1], 'state', 'half_open', 'epoch', epoch, 'by', replica)
  redis.call('DEL', KEYS[2])
  publish(channel, breaker, replica, 'half_open', epoch, 0)
  changed = 1
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local mine = 0
for n = 1, slots do
  local member = replica .. '#' .. n
  if redis.call('ZSCORE', KEYS[2], member) then
    if mine < want then
      redis.call('ZADD', KEYS[2], now + lease, member)
      mine = mine + 1
    else
      redis.call('ZREM', KEYS[2], member)
    end
  end
end
local free = slots - redis.call('ZCARD', KEYS[2])
local n = 1
while free > 0 and mine < want and n <= slots do
  local member = replica .. '#' .. n
  if not redis.call('ZSCORE', KEYS[2], member) then
    redis.call('ZADD', KEYS[2], now + lease, member)
    mine = mine + 1
    free = free - 1
  end
  n = n + 1
end
redis.call('PEXPIRE', KEYS[2], lease)
return {changed, 'half_open', epoch, mine}
