-- A bulkhead's slots as the fleet holds them, read without a change. KEYS[1] is its slot
-- leases (see bulkhead.lua), KEYS[2] the mark of a replica short of slots. Only live leases
-- count: one whose expiry has passed is free, whether or not a lease removed it yet.
-- The answer is {slots leased, replicas holding them, whether a replica is short}.
-- No ARGV.
local key, short = KEYS[1], KEYS[2]
local kind = redis.call('TYPE', key)['ok']
if kind == 'string' then bad(key, 'value', redis.call('GET', key)) end
if kind ~= 'zset' and kind ~= 'none' then bad(key, 'type', kind) end
local live = redis.call('ZRANGEBYSCORE', key, '(' .. now_ms(), '+inf')
local holders, replicas = {}, 0
for _, member in ipairs(live) do
  local replica = string.match(member, '^(.+)#%d+$')
  if replica == nil then bad(key, 'member', member) end
  if not holders[replica] then
    holders[replica] = true
    replicas = replicas + 1
  end
end
return {#live, replicas, redis.call('EXISTS', short)}
