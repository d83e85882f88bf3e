// Reading the operations table: which spec a payload or a stored kind has, and
// the one entry point each side checks a command through (capabilities, then
// input) before anything is recorded (controller) or touched (agent).
import type { OperationResult } from '../../../proto/gen/steward/v1/common.js';
import type { AgentManager, ManagerIdentity, OperationScope } from '../contract.js';
import { failedPrecondition, invalidArgument } from '../errors.js';
import { OPERATIONS, type OperationSpec } from './table.js';
import type { CommandPayload, OperationKind, PayloadCase } from './payload.js';

/** Every spec of the table, as one type (the payload it takes is then any of them). */
type AnySpec = OperationSpec<PayloadCase>;

const BY_KIND = new Map<string, AnySpec>(Object.values(OPERATIONS).map((s) => [s.kind, s as unknown as AnySpec]));

/** A payload this table knows (a newer controller may send one it does not). */
export const isKnownPayload = (p: CommandPayload | undefined): p is CommandPayload => !!p && Object.hasOwn(OPERATIONS, p.$case);

/** The spec of a payload. */
export const specOf = (p: CommandPayload): AnySpec => OPERATIONS[p.$case] as unknown as AnySpec;

/** The spec of a stored or reported kind; undefined for a kind no table row has (a newer peer's). */
export const specOfKind = (kind: string): AnySpec | undefined => BY_KIND.get(kind);

export const kindOf = (p: CommandPayload): OperationKind => specOf(p).kind as OperationKind;

export const ALL_KINDS: readonly OperationKind[] = [...BY_KIND.keys()] as OperationKind[];

/** What a capability is called in a refusal. */
const CAPABILITY_NAMES: Record<string, string> = {
  backup: 'backups',
  backup_incremental: 'incremental backups',
  cluster: 'clusters',
  configuration: 'configuration groups',
};

/**
 * Refuses a command the datastore cannot do (FAILED_PRECONDITION) or whose
 * input breaks its rules (INVALID_ARGUMENT naming the field); returns its spec.
 * The controller calls it before recording an operation, the agent before
 * running one: the same checks on both sides, from the same table.
 */
export function checkCommand(p: CommandPayload | undefined, datastore: ManagerIdentity): AnySpec {
  if (!isKnownPayload(p)) throw invalidArgument('command', 'has no payload this agent understands');
  const spec = specOf(p);
  for (const capability of spec.needs(p.value)) {
    if (!datastore.capabilities.includes(capability)) {
      throw failedPrecondition(`datastore ${datastore.displayName} does not support ${CAPABILITY_NAMES[capability] ?? capability}`);
    }
  }
  spec.check(p.value, datastore.validator);
  return spec;
}

/** Checks, then runs a command on a manager: exactly what the agent's executor does. */
export async function runCommand(manager: AgentManager, datastore: ManagerIdentity, p: CommandPayload, op: OperationScope): Promise<OperationResult> {
  return checkCommand(p, datastore).run(manager, p.value, op);
}
