"""The Lua scripts: each write to one identifier runs as one script, so it is all or nothing and no
concurrent writer can slip in between its read and its write (issue 3 "Writes").

Scripts splice the flat ``[index, blob, ...]`` array of ``storage.records`` and never decode a blob.
Results are ``{code, ...}`` arrays rather than Redis errors, so a ResponseError always means Redis trouble.
"""

from __future__ import annotations

import enum


class Outcome(enum.IntEnum):
    OK = 0
    HANDLE_EXISTS = 1
    HANDLE_MISSING = 2
    VALUE_EXISTS = 3  # followed by the clashing indexes
    VALUE_MISSING = 4  # followed by the missing indexes
    BAD_VERSION = 5


# KEYS[1] bucket hash; ARGV: field, op, payload (flat msgpack pairs, or an index list for remove), replace.
CHANGE = r"""
local key, field, op, payload = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local function pairs_of(raw)
  local t = cmsgpack.unpack(raw)
  if type(t) ~= 'table' then return {} end
  return t
end
local function save(flat)
  redis.call('HSET', key, field, '\1' .. cmsgpack.pack(flat))
end
if op == 'create' then
  if redis.call('HEXISTS', key, field) == 1 then return {1} end
  redis.call('HSET', key, field, '\1' .. payload)
  return {0, 0}
elseif op == 'overwrite' then
  local existed = redis.call('HEXISTS', key, field)
  redis.call('HSET', key, field, '\1' .. payload)
  return {0, existed}
elseif op == 'delete' then
  if redis.call('HDEL', key, field) == 0 then return {2} end
  return {0, 1}
end
local cur = redis.call('HGET', key, field)
if not cur then return {2} end
if string.byte(cur, 1) ~= 1 then return {5} end
local flat = pairs_of(string.sub(cur, 2))
local pos = {}
for i = 1, #flat, 2 do pos[flat[i]] = i end
if op == 'remove' then
  local drop, missing = {}, {}
  for _, idx in ipairs(pairs_of(payload)) do
    if pos[idx] then drop[idx] = true else table.insert(missing, idx) end
  end
  if #missing > 0 then return {4, unpack(missing)} end
  local kept = {}
  for i = 1, #flat, 2 do
    if not drop[flat[i]] then table.insert(kept, flat[i]); table.insert(kept, flat[i + 1]) end
  end
  save(kept)
  return {0, 1}
end
local new = pairs_of(payload)
local bad = {}
for i = 1, #new, 2 do
  local present = pos[new[i]] ~= nil
  if op == 'add' and present and ARGV[4] ~= '1' then table.insert(bad, new[i]) end
  if op == 'modify' and not present then table.insert(bad, new[i]) end
end
if #bad > 0 then
  if op == 'add' then return {3, unpack(bad)} end
  return {4, unpack(bad)}
end
for i = 1, #new, 2 do
  local at = pos[new[i]]
  if at then flat[at + 1] = new[i + 1] else
    table.insert(flat, new[i]); table.insert(flat, new[i + 1]); pos[new[i]] = #flat - 1
  end
end
save(flat)
return {0, 1}
"""

# KEYS[1] document, KEYS[2] its kind's index set; ARGV: member, packed document, ttl seconds (0 = none).
PUT_DOC = r"""
if tonumber(ARGV[3]) > 0 then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[2])
end
redis.call('SADD', KEYS[2], ARGV[1])
return 1
"""

# KEYS[1] document, KEYS[2] index set; ARGV[1] member. Returns 1 when the document existed.
DELETE_DOC = r"""
local existed = redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
return existed
"""

# Standalone bulk write: KEYS = the bucket of each identifier, then the change stream; ARGV = field, record
# per identifier, then the stream entry (actor, detail, maxlen) and the invalidation channel and message.
# One call per batch: the batch, its feed entries and its invalidation commit together. The feed gets one
# entry per BULK_CHUNK identifiers whose ``handles`` field names them ("\n"-separated, as the invalidation
# message does), so a consumer can tell what changed; its detail is {count, first, last} of that chunk (the
# caller's detail argument is no longer used; the argument layout is kept for storage.parallel).
BULK_CHUNK = 500
BULK_PUT = r"""
local n = #KEYS - 1
for i = 1, n do
  redis.call('HSET', KEYS[i], ARGV[2 * i - 1], ARGV[2 * i])
end
local base = 2 * n
for c = 1, n, BULK_CHUNK do
  local last = math.min(c + BULK_CHUNK - 1, n)
  local names = {}
  for i = c, last do names[#names + 1] = ARGV[2 * i - 1] end
  local detail = cjson.encode({count = last - c + 1, first = ARGV[2 * c - 1], last = ARGV[2 * last - 1]})
  redis.call('XADD', KEYS[n + 1], 'MAXLEN', '~', ARGV[base + 3], '*', 'actor', ARGV[base + 1],
    'op', 'bulk-overwrite', 'target', ARGV[2 * c - 1], 'result', 'ok', 'detail', detail,
    'handles', table.concat(names, '\n'))
end
redis.call('PUBLISH', ARGV[base + 4], ARGV[base + 5])
return n
""".replace("BULK_CHUNK", str(BULK_CHUNK))
