-- GCRA on Redis: one request of one client, atomically, on the Redis clock (so replicas whose
-- clocks differ still share one budget). The algorithm and its integer arithmetic are those of
-- gcra.rs, which computes the interval and tau passed here.
--
-- KEYS[1]  the counter, a hash: tat (µs), count, window (µs), identity, bucket
-- ARGV     interval (µs), tau (µs), count, window (µs), identity, bucket
-- Returns  {allowed (1 or 0), now (µs), tat (µs)}: the TAT after this request when allowed, the
--          unchanged one when refused.

-- Redis < 5 needs this before writing after a non-deterministic command (TIME); later versions
-- replicate effects anyway.
if redis.replicate_commands then
  redis.replicate_commands()
end

local interval = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])

local tat = tonumber(redis.call('HGET', KEYS[1], 'tat')) or now
if tat < now then
  tat = now
end
local new_tat = tat + interval
if new_tat - tau > now then
  return {0, now, tat}
end

-- '%.0f': Lua's default number formatting keeps only 14 digits, too few for microseconds.
redis.call('HSET', KEYS[1], 'tat', string.format('%.0f', new_tat), 'count', ARGV[3], 'window', ARGV[4],
  'identity', ARGV[5], 'bucket', ARGV[6])
-- The counter disappears exactly when it would be at its full budget.
redis.call('PEXPIRE', KEYS[1], math.ceil((new_tat - now) / 1000))
return {1, now, new_tat}
