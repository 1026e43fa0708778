-- luacheck settings for the Lua scripts Redis runs (src/*/scripts/*.lua): Redis's Lua 5.1 with
-- its globals, and the project's 100-column lines.
std = "lua51"
read_globals = { "redis", "KEYS", "ARGV", "struct", "cjson", "cmsgpack", "bit" }
max_line_length = 100
