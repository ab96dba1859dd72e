-- The breaker's fleet state, for a replica that registers it or reconciles.
-- No ARGV.
local now = now_ms()
local state, epoch, untl = load_state(KEYS[1])
return answer(0, state, epoch, now, untl)
