// The backup payload exactly as the Trove page gives it (`locationRef` keeps
// its camel case). controller/backups/events.ts passes the row as it is in the
// raising transaction; size, status, locationRef and parent_id vary with the
// event, as the page says.
import { troveDate } from '../message.js';
import type { Payload } from '../types.js';

export interface BackupSnapshot {
  id: string;
  name: string;
  description: string | null;
  instanceId: string;
  tenantId: string;
  created: string;
  updated: string;
  status: string;
  size: number | null;
  parentId: string | null;
  locationRef: string | null;
}

export function backupPayload(b: BackupSnapshot): Payload {
  return {
    id: b.id,
    name: b.name,
    description: b.description,
    instance_id: b.instanceId,
    tenant_id: b.tenantId,
    created: troveDate(b.created),
    updated: troveDate(b.updated),
    status: b.status,
    size: b.size,
    parent_id: b.parentId,
    locationRef: b.locationRef,
  };
}
