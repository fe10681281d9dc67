-- Appends one event that carries its publisher's id to the shared log, atomically with the
-- id bookkeeping. (Events without one are a plain XADD: they need no bookkeeping.)
-- KEYS[1] the stream, KEYS[2] custom id -> stream id (hash), KEYS[3] custom ids by time (zset)
-- ARGV[1] MAXLEN, ARGV[2] the publisher's id or '', ARGV[3] '1' when the id must be unique,
-- ARGV[4] '1' when private, ARGV[5] the encoded event without its id line, ARGV[6..] topics.
local stream, ids, by_time = KEYS[1], KEYS[2], KEYS[3]
local custom = ARGV[2]
local function retained(id)
  return #redis.call('XRANGE', stream, id, id) > 0
end
local known = false
if custom ~= '' then
  local found = redis.call('HGET', ids, custom)
  if found and retained(found) then
    if ARGV[3] == '1' then
      return redis.error_reply('DUPLICATE the id is already in the log')
    end
    known = true
  end
end
local fields = {'p', ARGV[4], 'b', ARGV[5]}
if custom ~= '' then
  fields[#fields + 1] = 'i'
  fields[#fields + 1] = custom
end
for i = 6, #ARGV do
  fields[#fields + 1] = 't'
  fields[#fields + 1] = ARGV[i]
end
local id = redis.call('XADD', stream, 'MAXLEN', '~', ARGV[1], '*', unpack(fields))
if custom ~= '' and not known then
  -- A reused id names its earliest retained event: only a first (or evicted) one is recorded.
  redis.call('HSET', ids, custom, id)
  redis.call('ZADD', by_time, tonumber(string.match(id, '^(%d+)')), custom)
end
-- Forget the ids of events the stream no longer holds, a bounded number per append: at most
-- one id is recorded per append here, so the bookkeeping stays bounded by the history.
local first = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)[1]
if first then
  local first_ms = tonumber(string.match(first[1], '^(%d+)'))
  local old = redis.call('ZRANGEBYSCORE', by_time, '-inf', '(' .. first_ms, 'LIMIT', 0, 64)
  for _, name in ipairs(old) do
    local at = redis.call('HGET', ids, name)
    if not at or not retained(at) then
      redis.call('HDEL', ids, name)
    end
    redis.call('ZREM', by_time, name)
  end
end
return id
