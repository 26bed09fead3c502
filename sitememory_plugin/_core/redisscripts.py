"""The Lua scripts of the Redis store: each one runs atomically on the server.

A site is a hash ``{doc, ver, ops}``. ``ver`` comes from one store-wide counter, so equal
versions mean equal documents, which is what lets a client's cache revalidate with one small
reply. A new version is never below the server's time in microseconds, so a store that lost
some or all of its data (no persistence, a snapshot restore, a flush) never hands out again a
version a client may still have cached.

``ops`` holds the ids of the last :data:`KEEP_OPS` updates committed to the site, so an update
retried after its reply was lost is recognised and answered "done" instead of being applied
twice. A write-behind batch, which may be retried much later, also carries its buffer's id and a
sequence number that grows with each batch: the buffer's one key ``<prefix>:client:<id>`` (a hash
of site -> last sequence committed) answers a retry "done", and expires :data:`MARKER_TTL`
seconds after the buffer's last commit. So a process keeps one such key, however much it writes.

A forgotten site keeps its document, a tombstone (``gone``), in ``<prefix>:gone`` instead of
``<prefix>:sites``.

Write scripts start with ``#!lua`` (Redis 7): the server then refuses them whole when it is out of
memory, before any write, instead of failing halfway through.
"""

from __future__ import annotations

#: How many committed operation ids a site remembers (33 bytes each).
KEEP_OPS = 32
#: Seconds a write-behind buffer's key lives after its last commit: far longer than a retry takes.
MARKER_TTL = 900

# Numbers are formatted with %d: Lua's tostring() rounds integers beyond 14 digits.
_NEXT_VERSION = """
local function next_version(clock)
  local now = redis.call('TIME')
  local floor = now[1] * 1000000 + now[2]
  local version = redis.call('INCR', clock)
  if version < floor then
    version = floor
    redis.call('SET', clock, string.format('%d', version))
  end
  return string.format('%d', version)
end
"""

# A site is listed in the set of sites, or in the set of tombstones if it was forgotten.
_LIST = """
local function list(sites, gone, key, live)
  if live == '1' then
    redis.call('SADD', sites, key)
    redis.call('SREM', gone, key)
  else
    redis.call('SREM', sites, key)
    redis.call('SADD', gone, key)
  end
end
"""

#: KEYS site, sites, clock, lock, client, gone, history. ARGV expected version ("" = absent),
#: document, site key, operation id (32 hex digits), batch sequence ("" = not a write-behind
#: batch), live ("1" or "0" for a tombstone), client TTL, clear the history first ("1"/"0"), the
#: history's length, then the visits to add to it (one record each). Replies: ok version
#: planted (the type of a non-stream value found at the history's key and replaced, else "") |
#: done | locked pttl | conflict version document ("" "" = absent).
#:
#: The history is a stream trimmed to its length; its records are added in the same script as the
#: document that counts them, so a visit is in both or in neither, once. A tombstone has none.
UPDATE = "#!lua" + _NEXT_VERSION + _LIST + f"""
local ops = redis.call('HGET', KEYS[1], 'ops') or ''
if string.find(ops, ' ' .. ARGV[4], 1, true) then return {{'done'}} end
if ARGV[5] ~= '' then
  local last = redis.call('HGET', KEYS[5], ARGV[3])
  if last and tonumber(last) >= tonumber(ARGV[5]) then return {{'done'}} end
end
if redis.call('EXISTS', KEYS[4]) == 1 then
  return {{'locked', string.format('%d', redis.call('PTTL', KEYS[4]))}}
end
local current = redis.call('HGET', KEYS[1], 'ver')
if (current or '') ~= ARGV[1] then
  return {{'conflict', current or '', redis.call('HGET', KEYS[1], 'doc') or ''}}
end
-- Something else planted at the history's key would make XADD fail after the document is
-- written (a script's writes are not undone): it is checked before any write, and replaced.
local planted = redis.call('TYPE', KEYS[7])['ok']
planted = (planted ~= 'none' and planted ~= 'stream') and planted or ''
local version = next_version(KEYS[3])
ops = string.sub(ops .. ' ' .. ARGV[4], -{KEEP_OPS * 33})
redis.call('HSET', KEYS[1], 'doc', ARGV[2], 'ver', version, 'ops', ops)
list(KEYS[2], KEYS[6], ARGV[3], ARGV[6])
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[5], ARGV[3], ARGV[5])
  redis.call('EXPIRE', KEYS[5], ARGV[7])
end
if ARGV[8] == '1' or ARGV[6] == '0' or planted ~= '' then redis.call('DEL', KEYS[7]) end
if ARGV[6] == '1' then
  for i = 10, #ARGV do redis.call('XADD', KEYS[7], 'MAXLEN', ARGV[9], '*', 'v', ARGV[i]) end
end
return {{'ok', version, planted}}
"""

#: KEYS site. ARGV the version the caller has ("" = none). Replies: {} absent | {version}
#: unchanged | {version, document}.
FETCH = """#!lua flags=no-writes
local current = redis.call('HGET', KEYS[1], 'ver')
if not current then return {} end
if current == ARGV[1] then return {current} end
return {current, redis.call('HGET', KEYS[1], 'doc')}
"""

#: KEYS site, sites, lock, clock, marker, gone, history. ARGV site key, lock token, marker TTL.
#: Replies: ok removed(0/1) version | lost. Removes a site, its tombstone and its history for good
#: (prune, under the store-wide lock). The deletion takes a version too, so a client never caches
#: an older state over it; the marker answers a retry after a lost reply with the first answer.
DELETE = "#!lua" + _NEXT_VERSION + """
local done = redis.call('GET', KEYS[5])
if done then
  local removed, version = string.match(done, '(%d+) (%d+)')
  return {'ok', removed, version}
end
if redis.call('GET', KEYS[3]) ~= ARGV[2] then return {'lost'} end
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('SREM', KEYS[6], ARGV[1])
local removed = string.format('%d', redis.call('DEL', KEYS[1]))
redis.call('DEL', KEYS[7])
local version = next_version(KEYS[4])
redis.call('SET', KEYS[5], removed .. ' ' .. version, 'EX', ARGV[3])
return {'ok', removed, version}
"""

#: KEYS site, sites, clock, lock, gone, history. ARGV document, site key, lock token, live
#: ("1"/"0"). Replies: ok version | lost. A tombstone takes the site's history with it.
PUT = "#!lua" + _NEXT_VERSION + _LIST + """
if redis.call('GET', KEYS[4]) ~= ARGV[3] then return {'lost'} end
local version = next_version(KEYS[3])
redis.call('HSET', KEYS[1], 'doc', ARGV[1], 'ver', version)
list(KEYS[2], KEYS[5], ARGV[2], ARGV[4])
if ARGV[4] == '0' then redis.call('DEL', KEYS[6]) end
return {'ok', version}
"""

#: KEYS site, sites, quarantine, gone. ARGV the corrupt document's version, site key. Moves the
#: document aside only if it is still the one found corrupt. Replies 1 moved | 0 not.
QUARANTINE = """#!lua
if redis.call('HGET', KEYS[1], 'ver') ~= ARGV[1] then return 0 end
redis.call('RENAME', KEYS[1], KEYS[3])
redis.call('SREM', KEYS[2], ARGV[2])
redis.call('SREM', KEYS[4], ARGV[2])
return 1
"""

#: KEYS lock. ARGV token, TTL ms. Taking a lock we already hold renews it, so a retry after a
#: lost reply cannot lock us out. Replies 1 held | 0 held by another.
ACQUIRE = """#!lua
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if holder then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

#: KEYS lock. ARGV token, TTL ms. Replies 1 renewed | 0 lost.
RENEW = """#!lua
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

#: KEYS lock. ARGV token. Replies 1 released | 0 not ours (any more).
RELEASE = """#!lua
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
"""
