// The cluster payload exactly as the Trove page gives it, built from the rows
// as the raising transaction sees them (controller/clusters/events.ts).
import { troveDate } from '../message.js';
import type { Payload } from '../types.js';

export interface ClusterSnapshot {
  id: string;
  name: string;
  task: { id: number; name: string; description: string };
  created: string;
  updated: string;
  datastore: { type: string; version: string };
  instances: Array<{ instanceId: string; name: string; createdAt: string; volumeSize: number | null; volumeId: string | null; type: string }>;
}

export function clusterPayload(c: ClusterSnapshot): Payload {
  return {
    id: c.id,
    name: c.name,
    task: { ...c.task },
    created: troveDate(c.created),
    updated: troveDate(c.updated),
    datastore: { ...c.datastore },
    cluster_size: c.instances.length,
    instances: c.instances.map((i) => ({
      instance_id: i.instanceId,
      name: i.name,
      created_at: troveDate(i.createdAt),
      volume_size: i.volumeSize,
      volume_id: i.volumeId,
      type: i.type,
    })),
  };
}
