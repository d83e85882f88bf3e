// The single place cluster notifications are raised (the seed's Ceilometer
// page: cluster.create, cluster.delete, and cluster.resize for grow and
// shrink, each .start/.end/.error), always inside the transaction that moves
// the cluster's task, with the page's cluster payload as the rows are then.
import { clusterPayload } from '../notifications/payloads/cluster.js';
import type { Notifier } from '../notifications/notifier.js';
import type { Phase } from '../notifications/types.js';
import type { Store } from '../store/open.js';

/** Trove's cluster tasks (trove/common/cluster_tasks.py) for Steward's, by the task's base name. */
const TROVE_TASKS: Record<string, { id: number; name: string; description: string }> = {
  NONE: { id: 1, name: 'NONE', description: 'No tasks for the cluster.' },
  BUILDING: { id: 2, name: 'BUILDING', description: 'Building the initial cluster.' },
  DELETING: { id: 3, name: 'DELETING', description: 'Deleting the cluster.' },
  GROWING: { id: 5, name: 'GROWING_CLUSTER', description: 'Increasing the size of the cluster.' },
  SHRINKING: { id: 6, name: 'SHRINKING_CLUSTER', description: 'Decreasing the size of the cluster.' },
};

export type ClusterAction = 'create' | 'delete' | 'resize';

export async function emitClusterEvent(
  notifier: Notifier,
  trx: Store,
  action: ClusterAction,
  phase: Phase,
  clusterId: string,
  exception?: string,
): Promise<void> {
  const c = await trx.selectFrom('clusters').selectAll().where('id', '=', clusterId).executeTakeFirst();
  if (!c) return;
  const members = await trx
    .selectFrom('cluster_members')
    .innerJoin('instances', 'instances.id', 'cluster_members.instance_id')
    .leftJoin('agents', 'agents.instance_id', 'cluster_members.instance_id')
    .select([
      'cluster_members.instance_id',
      'cluster_members.name',
      'instances.created_at',
      'instances.datastore_version',
      'agents.datastore_version as reported',
    ])
    .where('cluster_members.cluster_id', '=', clusterId)
    .orderBy('cluster_members.ordinal')
    .execute();
  const version = members.map((m) => m.reported || m.datastore_version).find((v) => !!v) ?? '';
  const payload = clusterPayload({
    id: c.id,
    name: c.name,
    task: TROVE_TASKS[c.task.replace(/_ERROR$/, '')] ?? TROVE_TASKS.NONE,
    created: c.created_at,
    updated: c.updated_at,
    datastore: { type: c.datastore, version },
    instances: members.map((m) => ({ instanceId: m.instance_id, name: m.name, createdAt: m.created_at, volumeSize: null, volumeId: null, type: 'member' })),
  });
  await notifier.resourceEvent(trx, `cluster.${action}`, phase, { id: c.id, tenantId: c.tenant_id }, payload, exception ?? c.task_message);
}
