// Trove's instance usage payload (TroveBaseTraits + TroveCommonTraits), filled
// from Steward's rows. Steward has no Nova server, flavors or Cinder volumes:
// `nova_instance_id` is null, the "flavor" is the memory size, and the volume
// fields are left out as Trove does without volume support.
import { Command } from '../../../proto/gen/steward/v1/agent.js';
import type { AgentsTable, InstancesTable, OperationsTable } from '../../store/schema.js';
import { troveTime } from '../message.js';
import type { Payload } from '../types.js';
import type { PayloadSettings } from './settings.js';

/** Trove's instance status, lower-cased, from the controller's task (the datastore's probe is not part of a state change). */
export function instanceState(inst: Pick<InstancesTable, 'task' | 'deleted_at'>): string {
  if (inst.deleted_at) return 'deleted';
  if (inst.task.endsWith('_ERROR')) return 'error';
  switch (inst.task) {
    case 'BUILDING':
      return 'build';
    case 'REBOOTING':
      return 'reboot';
    case 'RESIZING':
      return 'resize';
    case 'DELETING':
      return 'shutdown';
    case 'PROMOTING':
      return 'promote';
    case 'EJECTING':
      return 'eject';
    default:
      return 'active';
  }
}

export const flavorOf = (memoryMb: number): string => `${memoryMb}MB`;

export function instancePayload(inst: InstancesTable, agent: AgentsTable | undefined, s: PayloadSettings): Payload {
  const created = troveTime(inst.created_at);
  const state = instanceState(inst);
  return {
    instance_id: inst.id,
    instance_name: inst.name,
    name: inst.name,
    tenant_id: inst.tenant_id,
    user_id: null,
    created_at: created,
    launched_at: created,
    ...(inst.deleted_at ? { deleted_at: troveTime(inst.deleted_at) } : {}),
    instance_type: flavorOf(inst.memory_mb),
    instance_type_id: flavorOf(inst.memory_mb),
    instance_size: inst.memory_mb,
    memory_mb: inst.memory_mb,
    datastore: inst.datastore,
    datastore_version: agent?.datastore_version || inst.datastore_version,
    state,
    state_description: state,
    region: s.region,
    availability_zone: s.availabilityZone,
    service_id: s.serviceIds[inst.datastore] ?? inst.datastore,
    nova_instance_id: null,
  };
}

/**
 * What a resize's event adds: Trove's modify_flavor carries the size before
 * (`old_instance_size`) and the one asked for, whatever the phase; both come
 * from the command, the one record that holds them at start and at end.
 */
export function resizeFields(op: Pick<OperationsTable, 'kind' | 'command'>): Payload {
  const p = op.command && (op.kind === 'resize' || op.kind === 'grow_volume') ? Command.decode(op.command).payload : undefined;
  // modify_volume: the data volume's size before and after, in MB (Steward's volumes are not whole GB).
  if (p?.$case === 'growVolume') return { old_volume_size_mb: p.value.oldVolumeSizeMb, volume_size_mb: p.value.volumeSizeMb };
  if (p?.$case !== 'resize') return {};
  const { memoryMb, oldMemoryMb } = p.value;
  return {
    old_instance_size: oldMemoryMb,
    instance_size: memoryMb,
    memory_mb: memoryMb,
    instance_type: flavorOf(memoryMb),
    instance_type_id: flavorOf(memoryMb),
  };
}
