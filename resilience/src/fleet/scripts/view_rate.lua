-- A rate limiter's GCRA state, read without a change: KEYS[1] holds its theoretical arrival
-- time (see rate.lua). The answer is {now, the stored TAT or nil}, now in µs on Redis' clock.
-- No ARGV.
local key = KEYS[1]
local kind = redis.call('TYPE', key)['ok']
if kind ~= 'string' and kind ~= 'none' then bad(key, 'type', kind) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
return {now, redis.call('GET', key)}
