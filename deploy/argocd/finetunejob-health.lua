-- Argo CD health of a FineTuneJob (finetune.dev/FineTuneJob in argocd-cm's resource.customizations).
-- Progressing while it is pending, queued or running (or the operator has not observed its spec yet),
-- Healthy once it succeeded, Degraded once it failed for good, Suspended while suspended.
local hs = { status = "Progressing", message = "Waiting for the operator" }
local status = obj.status
if status == nil then
  return hs
end
if status.observedGeneration ~= nil and obj.metadata.generation ~= nil and status.observedGeneration < obj.metadata.generation then
  hs.message = "Waiting for the operator to observe generation " .. obj.metadata.generation
  return hs
end

-- The first True condition is the one that matters most (the operator keeps them in that order).
local headline = nil
if status.conditions ~= nil then
  for _, condition in ipairs(status.conditions) do
    if condition.status == "True" then
      headline = condition
      break
    end
  end
end
local detail = ""
if headline ~= nil then
  detail = headline.reason
  if headline.message ~= nil and headline.message ~= "" then
    detail = detail .. ": " .. headline.message
  end
end

local phase = status.phase or "Pending"
if phase == "Succeeded" then
  hs.status = "Healthy"
elseif phase == "Failed" then
  hs.status = "Degraded"
elseif phase == "Suspended" then
  hs.status = "Suspended"
else
  hs.status = "Progressing"
end
hs.message = phase
if status.stage ~= nil then
  hs.message = hs.message .. ", stage " .. status.stage
end
if detail ~= "" then
  hs.message = hs.message .. " (" .. detail .. ")"
end
return hs
