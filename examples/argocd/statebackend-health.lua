-- Argo CD health check for the tfstate.dev kinds (StateBackend, StorageProvider, ClusterStorageProvider):
-- Argo CD does not read conditions by itself. argocd-cm.yaml beside this file installs it.
local hs = { status = "Progressing", message = "waiting for tfstate-operator" }
if obj.metadata ~= nil and obj.metadata.deletionTimestamp ~= nil then
  hs.message = "being deleted: revoking its credential"
  return hs
end
if obj.status == nil then
  return hs
end
if obj.status.observedGeneration == nil or obj.status.observedGeneration < obj.metadata.generation then
  hs.message = "tfstate-operator has not yet seen the latest spec"
  return hs
end
if obj.status.conditions ~= nil then
  for _, c in ipairs(obj.status.conditions) do
    if c.type == "Stalled" and c.status == "True" then
      return { status = "Degraded", message = c.reason .. ": " .. c.message }
    end
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == "Ready" then
      if c.status == "True" then
        return { status = "Healthy", message = c.message }
      end
      hs.message = c.reason .. ": " .. c.message
    end
  end
end
return hs
