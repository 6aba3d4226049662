--! script REAP_TURN presence_turn
--! uses prelude
-- ARGV: owner, interval_ms. Returns {'OK', 1} when it is owner's turn to
-- look for dead workers (nobody took it within the last interval_ms: the
-- turn is now owner's for that long) or {'OK', 0}.
--
-- The turn ends at a time on the scripts' clock (prelude's now_ms), kept in
-- the key's value, "<until_ms> <owner>": a turn left to Redis's expiry
-- alone follows the wall clock, and a step back of the server's clock would
-- let nobody look for the length of the step. The key still expires (after
-- one interval) so that nothing stays behind.

local REAPER = '@FFPOOL_KEY_REAPER@'
local owner, interval = ARGV[1], tonumber(ARGV[2])
local now = now_ms()
local taken = redis.call('GET', REAPER)
if taken then
  local until_ms = tonumber(string.match(taken, '^(%d+) '))
  if not until_ms or until_ms > now then return {'OK', 0} end
end
redis.call('SET', REAPER, str(now + interval) .. ' ' .. owner, 'PX', str(interval))
return {'OK', 1}
