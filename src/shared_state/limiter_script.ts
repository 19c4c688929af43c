// The limiter's decision as one Lua script (SPEC §13): Redis runs a script atomically, so a check
// and its count cannot be split by another replica's call, and a decision is one round trip
// (EVALSHA; the client falls back to EVAL once after a Redis restart empties the script cache).
// The arithmetic is src/limits/window.ts's, integer for integer: the same sliding window (two
// buckets aligned to multiples of the window), the same cap opened by its first call, the same
// "check every limit, count against all only when all admit" rule.
//
// KEYS[1]: the session record (cap fields cs, cc; window fields wm, ws, wc, wp)
// KEYS[2]: the per_model record (window fields only)
// ARGV: now, cap (-1 = none), cap window ms, per_session limit (-1 = none), its window ms,
//       per_model limit (-1 = none), its window ms
// Returns {1} when admitted and counted, or {0, cs, cc, sws, swc, swp, mws, mwc, mwp} with the
// stored counters as strings ("" = absent) so the caller computes the exact waits.

/** The Lua source of the limiter script. */
export const LIMITER_LUA = `
local now = tonumber(ARGV[1])
local cap = tonumber(ARGV[2])
local capMs = tonumber(ARGV[3])
local sLimit = tonumber(ARGV[4])
local sMs = tonumber(ARGV[5])
local mLimit = tonumber(ARGV[6])
local mMs = tonumber(ARGV[7])

local function readWindow(key, w)
  local v = redis.call('HMGET', key, 'wm', 'ws', 'wc', 'wp')
  if v[1] == false or tonumber(v[1]) ~= w then return {'', '0', '0'} end
  return {v[2], v[3], v[4]}
end

-- rolled bucket start, current, previous at now (rollWindow)
local function roll(raw, w)
  local start = now - (now % w)
  if raw[1] == '' then return start, 0, 0 end
  local bs = tonumber(raw[1])
  if start == bs then return start, tonumber(raw[2]), tonumber(raw[3]) end
  if start == bs + w then return start, 0, tonumber(raw[2]) end
  return start, 0, 0
end

local function fits(raw, w, limit)
  if not (limit >= 1) then return false end
  local start, cur, prev = roll(raw, w)
  return prev * (w - (now - start)) + (cur + 1) * w <= limit * w
end

local capRaw = {'', '0'}
if cap >= 0 then
  local v = redis.call('HMGET', KEYS[1], 'cs', 'cc')
  if v[1] ~= false then capRaw = {v[1], v[2]} end
end
local sRaw = {'', '0', '0'}
if sLimit >= 0 then sRaw = readWindow(KEYS[1], sMs) end
local mRaw = {'', '0', '0'}
if mLimit >= 0 then mRaw = readWindow(KEYS[2], mMs) end

local capCount = 0
local capStart = now
if cap >= 0 and capRaw[1] ~= '' and now < tonumber(capRaw[1]) + capMs then
  capCount = tonumber(capRaw[2])
  capStart = tonumber(capRaw[1])
end
local ok = true
if cap >= 0 and not (cap >= 1 and capCount + 1 <= cap) then ok = false end
if sLimit >= 0 and not fits(sRaw, sMs, sLimit) then ok = false end
if mLimit >= 0 and not fits(mRaw, mMs, mLimit) then ok = false end
if not ok then
  return {0, capRaw[1], capRaw[2], sRaw[1], sRaw[2], sRaw[3], mRaw[1], mRaw[2], mRaw[3]}
end

-- Expiry relative to the caller's clock: a record is kept while it can still refuse a call.
local function keep(key, untilMs)
  local ttl = untilMs - now
  local left = redis.call('PTTL', key)
  if left > ttl then ttl = left end
  if ttl < 1 then ttl = 1 end
  redis.call('PEXPIRE', key, ttl)
end

if cap >= 0 or sLimit >= 0 then
  local untilMs = 0
  if cap >= 0 then
    redis.call('HSET', KEYS[1], 'cs', string.format('%d', capStart), 'cc', capCount + 1)
    untilMs = capStart + capMs
  end
  if sLimit >= 0 then
    local start, cur, prev = roll(sRaw, sMs)
    redis.call('HSET', KEYS[1], 'wm', sMs, 'ws', string.format('%d', start), 'wc', cur + 1,
      'wp', prev)
    if start + 2 * sMs > untilMs then untilMs = start + 2 * sMs end
  end
  keep(KEYS[1], untilMs)
end
if mLimit >= 0 then
  local start, cur, prev = roll(mRaw, mMs)
  redis.call('HSET', KEYS[2], 'wm', mMs, 'ws', string.format('%d', start), 'wc', cur + 1,
    'wp', prev)
  keep(KEYS[2], start + 2 * mMs)
end
return {1}
`;
