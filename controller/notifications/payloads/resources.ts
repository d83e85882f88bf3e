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

const commandOf = (op: OperationsTable): Command => (op.command ? Command.decode(op.command) : Command.fromPartial({}));

export function usersPayload(inst: InstancesTable, agent: AgentsTable | undefined, op: OperationsTable): Payload {
  const c = commandOf(op);
  const refs = c.createUsers ? c.createUsers.users : c.deleteUser ? [c.deleteUser] : [];
  return { ...base(inst, agent, op), users: refs.map((u) => ({ name: u.name, host: u.host })) };
}

export function databasesPayload(inst: InstancesTable, agent: AgentsTable | undefined, op: OperationsTable): Payload {
  const c = commandOf(op);
  const names = c.createDatabases ? c.createDatabases.databases.map((d) => d.name) : c.deleteDatabase ? [c.deleteDatabase.name] : [];
  return { ...base(inst, agent, op), databases: names.map((name) => ({ name })) };
}

export function rootPayload(inst: InstancesTable, agent: AgentsTable | undefined, op: OperationsTable): Payload {
  return base(inst, agent, op);
}
