-- Argo CD health check for DbsBackupPlan, RdsBackup, HbrBackupJob, RdsBackupSchedule,
-- HbrBackupSchedule, RdsRestore, HbrRestoreJob and DbsRestoreTask (backup.aliyun.dev).
-- Source: charts/aliyun-backup-operator/files/argocd-health.lua; see docs/gitops.md.
-- Verdicts, first match wins:
--   Paused=True (annotation backup.aliyun.dev/paused, or a paused namespace)
--                                              -> Suspended
--   status missing, or status/condition observedGeneration behind metadata.generation
--                                              -> Progressing (the operator has not acted yet)
--   Stalled=True, RPOMet=False, phase Failed, Cancelled or PartiallySucceeded
--                                              -> Degraded (needs a human)
--   phase Paused (DbsBackupPlan spec.suspend) or Suspended (a schedule's spec.suspend)
--                                              -> Suspended
--   phase Deleting, or Reconciling=True        -> Progressing
--   Ready=True                                 -> Healthy
--   no Ready condition, phase Succeeded, Planned (a restore's finished dry run), or Running
--   for a DbsBackupPlan                        -> Healthy
--   anything else (Pending, Creating, Starting, Running, Restoring, Deleting)
--                                              -> Progressing
local hs = {}

local function condition(conditions, ctype)
  if conditions == nil then
    return nil
  end
  for _, c in ipairs(conditions) do
    if c.type == ctype then
      return c
    end
  end
  return nil
end

local function describe(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  if c ~= nil and c.reason ~= nil and c.reason ~= "" then
    return c.reason
  end
  return fallback
end

local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end
local status = obj.status

if status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report status"
  return hs
end

-- The operator is paused for this object; it keeps observedGeneration until it resumes.
local paused = condition(status.conditions, "Paused")
if paused ~= nil and paused.status == "True" then
  hs.status = "Suspended"
  hs.message = describe(paused, "Paused")
  return hs
end

if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

-- Conditions written for an older generation say nothing about the current spec.
local function current(c)
  if c == nil then
    return nil
  end
  if generation ~= nil and c.observedGeneration ~= nil and c.observedGeneration < generation then
    return nil
  end
  return c
end

local ready = current(condition(status.conditions, "Ready"))
local stalled = current(condition(status.conditions, "Stalled"))
local reconciling = current(condition(status.conditions, "Reconciling"))
local rpo = current(condition(status.conditions, "RPOMet"))
local phase = status.phase or ""
-- RdsRestore, HbrRestoreJob and DbsRestoreTask: the fallback messages speak of a restore.
local restore = obj.kind ~= nil and string.find(obj.kind, "Restore", 1, true) ~= nil

if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(stalled, "Stalled")
  return hs
end

if rpo ~= nil and rpo.status == "False" then
  hs.status = "Degraded"
  hs.message = describe(rpo, "The newest successful backup is older than spec.rpo")
  return hs
end

if phase == "Failed" then
  hs.status = "Degraded"
  hs.message = describe(ready, restore and "Restore failed" or "Backup failed")
  return hs
end

if phase == "Cancelled" then
  hs.status = "Degraded"
  hs.message = describe(ready, restore and "Restore was cancelled" or "Backup job was cancelled")
  return hs
end

if phase == "PartiallySucceeded" then
  hs.status = "Degraded"
  hs.message = describe(ready, restore and "Restore partially succeeded: some data was not restored"
    or "Backup partially succeeded: some data was not backed up")
  return hs
end

if phase == "Paused" or phase == "Suspended" then
  hs.status = "Suspended"
  hs.message = describe(ready, "Suspended (spec.suspend)")
  return hs
end

if phase == "Deleting" then
  hs.status = "Progressing"
  if restore then
    -- Deleting a restore never deletes restored data; a running restore is cancelled.
    hs.message = "Deleting: a running restore is cancelled, restored data is kept"
  else
    hs.message = "Cleaning up in Alibaba Cloud"
  end
  return hs
end

if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = describe(reconciling, phase)
  return hs
end

if ready ~= nil then
  if ready.status == "True" then
    hs.status = "Healthy"
    hs.message = describe(ready, phase)
    return hs
  end
  hs.status = "Progressing"
  hs.message = describe(reconciling, describe(ready, phase))
  return hs
end

if phase == "Succeeded" or phase == "Planned" or (phase == "Running" and obj.kind == "DbsBackupPlan") then
  hs.status = "Healthy"
  hs.message = phase
  return hs
end

hs.status = "Progressing"
if phase ~= "" then
  hs.message = describe(reconciling, phase)
else
  hs.message = describe(reconciling, "Waiting for the operator")
end
return hs
