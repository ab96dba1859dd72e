-- A replica's breaker opened. Opens the fleet's, with the one deadline for the fleet, unless
-- it is open already (the answer carries its deadline) or, with a quorum, too few replicas
-- have opened it within the window (changed = 2, n = the votes so far).
-- ARGV: channel, breaker, replica, recovery timeout (ms), quorum, quorum window (ms)
local channel, breaker, replica = ARGV[1], ARGV[2], ARGV[3]
local recovery, quorum, window = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local now = now_ms()
local state, epoch, untl = load_state(KEYS[1])
if state == 'open' and untl > now then
  return answer(0, state, epoch, now, untl)
end
-- A failed probe reopens at once: the probes are the fleet's.
if quorum > 1 and state ~= 'half_open' then
  redis.call('ZADD', KEYS[3], now, replica)
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - window)
  redis.call('PEXPIRE', KEYS[3], window)
  local votes = redis.call('ZCARD', KEYS[3])
  if votes < quorum then
    return {2, state, epoch, votes}
  end
end
return open_fleet(channel, breaker, replica, epoch, now, recovery)
