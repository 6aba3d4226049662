-- The five arguments every owner call starts with.

local id, owner, epoch = ARGV[1], ARGV[2], ARGV[3]
local ttl, retention = tonumber(ARGV[4]), tonumber(ARGV[5])
local now = now_ms()
