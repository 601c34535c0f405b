-- Argo CD health check for mithril.ai SpotBid and InstanceSchedule (Lua 5.1, as Argo CD runs it).
-- Follows kstatus: Progressing until the operator has observed the current generation; then
-- Degraded on a failure only a user can fix, Suspended when held on purpose, Healthy when Ready
-- and Synced are True, Progressing otherwise.
local hs = {}

-- Synced=False reasons that retrying cannot fix: the spec, the Secret or Mithril's answer must change.
local terminal = {
  ApiKeyNotConfigured = true, ApiKeySecretNotFound = true, ApiKeyMissing = true,
  ApiKeyInvalid = true, InvalidApiKey = true, ProjectNotFound = true,
  InstanceTypeNotFound = true, RegionNotFound = true, BidRejected = true, PriceRejected = true,
  UpdateRejected = true, RejectedByMithril = true, ImmutableFieldChanged = true,
  AdoptedBidNotFound = true, AdoptedBidTerminated = true, InvalidSpec = true,
  InvalidLimitPrice = true, InvalidPricing = true, InvalidRegionChange = true, Conflict = true,
  SpotInstance = true, InstanceNotFound = true, ApiKeyNotAllowed = true, AdoptionRefused = true,
  AdoptionConflict = true, ReplacementBlocked = true,
}
-- Reasons for which the operator holds back on purpose (an annotation, spec.suspend, spec.paused).
local held = { ObserveOnly = true, ReconcilePaused = true, Suspended = true, Paused = true }

local function describe(condition)
  if condition.message ~= nil and condition.message ~= "" then
    return condition.reason .. ": " .. condition.message
  end
  return condition.reason
end

local status = obj.status
if status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report a status"
  return hs
end

local generation = obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. generation
  return hs
end

local ready, synced
if status.conditions ~= nil then
  for _, condition in ipairs(status.conditions) do
    -- A condition computed from an older spec says nothing about this one.
    local current = generation == nil or condition.observedGeneration == nil
      or condition.observedGeneration >= generation
    if current and condition.type == "Ready" then ready = condition end
    if current and condition.type == "Synced" then synced = condition end
  end
end

if synced ~= nil and synced.status == "False" and terminal[synced.reason] then
  hs.status = "Degraded"
  hs.message = describe(synced)
  return hs
end
if status.phase == "Failed" then
  hs.status = "Degraded"
  hs.message = (synced ~= nil and describe(synced)) or "The operator cannot act until the spec or its Secret changes"
  return hs
end
local function is_held(condition)
  return condition ~= nil and condition.status ~= "True" and held[condition.reason] == true
end
if is_held(synced) or is_held(ready) then
  hs.status = "Suspended"
  hs.message = describe(is_held(synced) and synced or ready)
  return hs
end
if ready ~= nil and ready.status == "True" and (synced == nil or synced.status == "True") then
  hs.status = "Healthy"
  hs.message = describe(ready)
  return hs
end

hs.status = "Progressing"
if synced ~= nil and synced.status ~= "True" then
  hs.message = describe(synced)
elseif ready ~= nil then
  hs.message = describe(ready)
else
  hs.message = "Waiting for the Ready and Synced conditions"
end
return hs
