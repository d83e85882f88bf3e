// What goes to stdout: borderless tables for people (aligned, so they also
// survive grep/awk), or JSON for scripts with every field present and enums by
// name. Notes and progress go to stderr so stdout stays parseable.
import Table from 'cli-table3';
import { instanceTaskToJSON, type Instance } from '../proto/gen/steward/v1/api.js';
import { ReplicationRole, replicationRoleToJSON } from '../proto/gen/steward/v1/replication.js';
import {
  datastoreStatusToJSON,
  operationStateToJSON,
  OperationResult,
  OperationState,
  type Operation,
  type OperationError,
  type RootResult,
  type User,
} from '../proto/gen/steward/v1/common.js';
import { codeOfNumber } from '../managers/sdk/errors.js';

const PLAIN_CHARS = {
  top: '',
  'top-mid': '',
  'top-left': '',
  'top-right': '',
  bottom: '',
  'bottom-mid': '',
  'bottom-left': '',
  'bottom-right': '',
  left: '',
  'left-mid': '',
  mid: '',
  'mid-mid': '',
  right: '',
  'right-mid': '',
  middle: '   ',
};

export type Cell = string | number | boolean | null | undefined;

export class Output {
  constructor(readonly json: boolean) {}

  /** Machine-readable output; the caller has already converted enums to names. */
  data(value: unknown): void {
    process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  table(head: string[], rows: Cell[][]): void {
    const t = new Table({
      head: head.map((h) => h.toUpperCase()),
      chars: PLAIN_CHARS,
      style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0 },
    });
    for (const r of rows) t.push(r.map(cell));
    this.write(t.toString());
  }

  /** One object as aligned `KEY  value` lines. */
  record(pairs: [string, Cell][]): void {
    const t = new Table({ chars: PLAIN_CHARS, style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0 } });
    for (const [k, v] of pairs) t.push([`${k}:`, cell(v)]);
    this.write(t.toString());
  }

  line(text: string): void {
    process.stdout.write(`${text}\n`);
  }

  /** Information for the person at the terminal that a script must not have to parse. */
  note(text: string): void {
    process.stderr.write(`${text}\n`);
  }

  private write(text: string): void {
    process.stdout.write(
      `${text
        .split('\n')
        .map((l) => l.trimEnd())
        .join('\n')}\n`,
    );
  }
}

function cell(v: Cell): string {
  if (v === null || v === undefined || v === '') return '-';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  return String(v);
}

// ---- enum names --------------------------------------------------------------

/** "INSTANCE_TASK_BUILDING_ERROR" -> "BUILDING_ERROR": the prefix is noise in a table. */
export const short = (full: string, prefix: string) => (full.startsWith(prefix) ? full.slice(prefix.length) : full);

export const taskName = (i: Instance) => short(instanceTaskToJSON(i.task), 'INSTANCE_TASK_');
export const stateName = (s: OperationState) => short(operationStateToJSON(s), 'OPERATION_STATE_');

export function statusName(i: Instance): string {
  // The controller relays only what the agent reported; say so when that is stale or absent.
  if (i.agentLost) return 'UNKNOWN (agent lost)';
  if (!i.status) return i.agentConnected ? 'UNKNOWN' : 'NEW';
  return short(datastoreStatusToJSON(i.status), 'DATASTORE_STATUS_');
}

// ---- JSON forms (proto3 JSON field names, defaults kept, enums by name) --------

export function instanceJson(i: Instance): Record<string, unknown> {
  return { ...i, task: instanceTaskToJSON(i.task), status: datastoreStatusToJSON(i.status), role: replicationRoleToJSON(i.role) };
}

export function operationJson(op: Operation): Record<string, unknown> {
  return {
    ...op,
    state: operationStateToJSON(op.state),
    result: op.result ? OperationResult.toJSON(op.result) : null,
    error: op.error ? { code: errorName(op.error), message: op.error.message } : null,
  };
}

/** An operation error's code by name ("INVALID_ARGUMENT"). */
export const errorName = (e: OperationError): string => codeOfNumber(e.code);

export function userJson(u: User): Record<string, unknown> {
  // `password` is input-only in the API; an empty string in the output would only confuse.
  const { password: _password, ...rest } = u;
  return rest;
}

export function rootJson(r: RootResult): Record<string, unknown> {
  return { ...r };
}

// ---- shared renderings ----------------------------------------------------------

export const terminal = (op: Operation) => op.state === OperationState.SUCCEEDED || op.state === OperationState.FAILED || op.state === OperationState.CANCELLED;

export function userLabel(u: { name: string; host: string }): string {
  return u.host ? `${u.name}@${u.host}` : u.name;
}

export function address(i: Instance): string {
  return i.host ? `${i.host}:${i.port}` : '';
}

export function agentLabel(i: Instance): string {
  if (i.agentLost) return 'lost';
  return i.agentConnected ? 'connected' : 'disconnected';
}

/** "121 of 576 MB used (320 MB volume)", with FULL when the agent says so; '' without a report. */
function volumeLine(i: Instance): string {
  if (!i.volumeTotalMb) return i.volumeSizeMb ? `${i.volumeSizeMb} MB volume` : '';
  const used = `${i.volumeUsedMb} of ${i.volumeTotalMb} MB used${i.volumeSizeMb ? ` (${i.volumeSizeMb} MB volume)` : ''}`;
  return i.volumeFull ? `${used}: FULL` : used;
}

export function instanceRecord(out: Output, i: Instance): void {
  const task = taskName(i);
  out.record([
    ['id', i.id],
    ['name', i.name],
    ['datastore', i.datastoreVersion ? `${i.datastore} ${i.datastoreVersion}` : i.datastore],
    ['memory', `${i.memoryMb} MB`],
    ['status', statusName(i)],
    ['task', i.taskMessage ? `${task}: ${i.taskMessage}` : task],
    ['address', address(i)],
    ['agent', agentLabel(i)],
    ['last heartbeat', i.lastHeartbeatAt],
    ['capabilities', i.capabilities.join(', ')],
    ['configuration', i.configurationId],
    ['volume', volumeLine(i)],
    ['restart required for', i.pendingRestart.join(', ')],
    ...replicationLines(i),
    ['created', i.createdAt],
    ['updated', i.updatedAt],
  ]);
}

/** What an operation produced, in a few words (the full result is in --json). */
export function resultSummary(op: Operation): string {
  const r = op.result?.result;
  switch (r?.$case) {
    case 'users':
      return `${r.value.users.length} user(s)`;
    case 'user':
      return `user ${userLabel(r.value)}`;
    case 'databases':
      return `${r.value.databases.length} database(s)`;
    case 'access':
      return `access to ${r.value.access.map((a) => a.database).join(', ') || 'nothing'}`;
    case 'root':
      return `root ${r.value.enabled ? 'enabled' : 'disabled'}`;
    case 'noop':
      return `echo ${JSON.stringify(r.value.echo)}`;
    case 'ring':
      return `${r.value.members.length} ring member(s)`;
    case 'member':
      return `member ${r.value.address} (${r.value.dataCenter}/${r.value.rack})`;
    case 'configuration':
      return r.value.pendingRestart.length ? `restart required for ${r.value.pendingRestart.join(', ')}` : 'configuration in effect';
    default:
      return '';
  }
}

export function operationRecord(out: Output, op: Operation): void {
  out.record([
    ['id', op.id],
    ['instance', op.instanceId],
    ['kind', op.kind],
    ['state', stateName(op.state)],
    ['progress', `${op.progress}%`],
    ['message', op.message],
    ['error', op.error ? `${errorName(op.error)}: ${op.error.message}` : ''],
    ['result', resultSummary(op)],
    ['created', op.createdAt],
    ['updated', op.updatedAt],
  ]);
}

/** Role, source, replicas and lag, for an instance in a replica set. */
function replicationLines(i: Instance): Array<[string, string]> {
  if (!i.replicaSetId) return [];
  const r = i.replication;
  const role = replicationRoleToJSON(i.role).replace('REPLICATION_ROLE_', '').toLowerCase();
  const lines: Array<[string, string]> = [
    ['replica set', i.replicaSetId],
    ['role', r?.fenced ? `${role} (fenced)` : role],
  ];
  if (i.replicaOf) lines.push(['replica of', i.replicaOf]);
  if (i.replicas.length) lines.push(['replicas', i.replicas.join(', ')]);
  if (r && i.role === ReplicationRole.REPLICA) {
    lines.push(['lag', `${r.lag} ${r.lagUnit}, ${r.lagSeconds < 0 ? 'unknown' : r.lagSeconds} s${r.connected ? '' : ' (not streaming)'}`]);
  }
  if (r?.position) lines.push(['position', r.position]);
  if (r?.error) lines.push(['replication error', r.error]);
  return lines;
}
