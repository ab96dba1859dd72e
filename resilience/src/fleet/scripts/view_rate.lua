-- A rate limiter's GCRA state, read without a change: KEYS[1] holds its theoretical arrival
-- time, KEYS[2] what each replica holds of its tokens (see rate.lua). The answer is {now, the
-- stored TAT or nil, the tokens the replicas hold by their live records, counted as rate.lua
-- counts them}, now in µs on Redis' clock.
-- No ARGV.
local key, held = KEYS[1], KEYS[2]
local kind = redis.call('TYPE', key)['ok']
if kind ~= 'string' and kind ~= 'none' then bad(key, 'type', kind) end
kind = redis.call('TYPE', held)['ok']
if kind ~= 'hash' and kind ~= 'none' then bad(held, 'type', kind) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local now_ms = math.floor(now / 1000)
local holding = 0
local records = redis.call('HGETALL', held)
for i = 1, #records, 2 do
  local who, record = records[i], records[i + 1]
  local tokens, granted, place, expiry = string.match(record, '^(%d+):(%d+):(%d+):(%d+)$')
  if not tokens then bad(held, who, record) end
  if tonumber(expiry) > now_ms then
    holding = holding + tonumber(tokens)
    if now >= tonumber(place) then holding = holding + tonumber(granted) end
  end
end
return {now, redis.call('GET', key), holding}
