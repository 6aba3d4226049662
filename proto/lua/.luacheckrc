-- luacheck settings for the queue's scripts as Redis runs them
-- (build/gen/lua/*.lua, made by scripts/lua_embed.py; `make lint`).
-- Redis runs Lua 5.1 and forbids scripts to create globals.
std = "lua51"
read_globals = {"redis", "ARGV", "KEYS", "cjson", "cmsgpack", "bit", "struct"}
max_line_length = 100
