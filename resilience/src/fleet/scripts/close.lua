-- A replica's breaker closed (its probes succeeded, or an operator reset it). Closes the
-- fleet's, unless the replica has not seen the fleet's latest transition (its epoch is
-- older): then the answer is that transition, for the replica to take.
-- ARGV: channel, breaker, replica, the epoch the replica knows
local channel, breaker, replica = ARGV[1], ARGV[2], ARGV[3]
local known = tonumber(ARGV[4])
local now = now_ms()
local state, epoch, untl = load_state(KEYS[1])
if state == 'closed' or epoch > known then
  return answer(0, state, epoch, now, untl)
end
epoch = epoch + 1
redis.call('HSET', KEYS[1], 'state', 'closed', 'epoch', epoch, 'until', 0, 'by', replica)
redis.call('DEL', KEYS[2], KEYS[3])
publish(channel, breaker, replica, 'closed', epoch, 0)
return answer(1, 'closed', epoch, now, 0)
