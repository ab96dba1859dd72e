-- A rate limiter's GCRA state, read without a change: KEYS[1] holds its theoretical arrival
-- time, KEYS[2] what each replica holds of its tokens (see rate.lua). The answer is {now, the
-- stored TAT or nil, the tokens the replicas hold by their live records, counted as rate.lua
-- counts them}, now in µs on Redis' clock.
-- No ARGV.
local key, held = KEYS[1], KEYS[2]
local now, now_ms = rate_now(key, held)
local holding = holdings(held, nil, now, now_ms, nil, false)
return {now, redis.call('GET', key), holding}
