// Payloads of the events beyond the Trove page (users, databases, root): which
// instance, which operation, and the names it touched. Never a password: only
// names and host patterns are copied out of the command.
import { Command } from '../../../proto/gen/steward/v1/agent.js';
import type { AgentsTable, InstancesTable, OperationsTable } from '../../store/schema.js';
import type { Payload } from '../types.js';

function base(inst: InstancesTable, agent: AgentsTable | undefined, op: OperationsTable): Payload {
  return {
    instance_id: inst.id,
    instance_name: inst.name,
    tenant_id: inst.tenant_id,
    datastore: inst.datastore,
    datastore_version: agent?.datastore_version || inst.datastore_version,
    operation_id: op.id,
  };
}

const payloadOf = (op: OperationsTable) => (op.command ? Command.decode(op.command).payload : undefined);

export function usersPayload(inst: InstancesTable, agent: AgentsTable | undefined, op: OperationsTable): Payload {
  const p = payloadOf(op);
  const refs = p?.$case === 'createUsers' ? p.value.users : p?.$case === 'deleteUser' ? [p.value] : [];
  return { ...base(inst, agent, op), users: refs.map((u) => ({ name: u.name, host: u.host })) };
}

export function databasesPayload(inst: InstancesTable, agent: AgentsTable | undefined, op: OperationsTable): Payload {
  const p = payloadOf(op);
  const names = p?.$case === 'createDatabases' ? p.value.databases.map((d) => d.name) : p?.$case === 'deleteDatabase' ? [p.value.name] : [];
  return { ...base(inst, agent, op), databases: names.map((name) => ({ name })) };
}

export function rootPayload(inst: InstancesTable, agent: AgentsTable | undefined, op: OperationsTable): Payload {
  return base(inst, agent, op);
}
