// What replication changes on the running server. Each step is idempotent
// (a workflow re-sends a command after a controller restart) and matches what
// replication-config.ts writes into redis.conf for the next start.
import type { ReplicationCredentials } from '../sdk/replication.js';
import { FENCED_MAX_LAG_S, FENCED_MIN_REPLICAS } from './config.js';
import type { Session } from './connection.js';
import { ensureReplicationAccounts, type SourceAddress } from './replication-users.js';
import { ADMIN_USER } from './validation.js';

/**
 * Follows `source`: the accounts (so this replica can serve replicas once
 * promoted), the source's login, read-only, then REPLICAOF. Pointed at the
 * source it already follows, Redis keeps the link as it is; pointed at a new
 * one it asks to continue where it is (PSYNC) and takes a full copy when the
 * new source's history does not contain its own.
 */
export async function followSource(s: Session, source: SourceAddress, creds: ReplicationCredentials): Promise<void> {
  await ensureReplicationAccounts(s, creds);
  // The login first: REPLICAOF connects at once.
  await s.call('CONFIG', 'SET', 'masteruser', creds.user, 'masterauth', creds.password, 'replica-read-only', 'yes');
  // A replica is never fenced (the fence only means anything on a primary): cleared so that a later promotion starts clean.
  await setFence(s, false);
  await s.call('REPLICAOF', source.host, String(source.port));
}

/** Takes writes from now on, as far as replication goes (a fence still refuses them). A primary is left as it is. */
export async function stopFollowing(s: Session): Promise<void> {
  await s.call('REPLICAOF', 'NO', 'ONE');
}

/** Refuses every write (NOREPLICAS) or takes them again; see FENCED_MIN_REPLICAS. */
export async function setFence(s: Session, on: boolean): Promise<void> {
  if (on) await s.call('CONFIG', 'SET', 'min-replicas-max-lag', String(FENCED_MAX_LAG_S), 'min-replicas-to-write', String(FENCED_MIN_REPLICAS));
  else await s.call('CONFIG', 'SET', 'min-replicas-to-write', '0');
}

/** The ids of the connections of `type` whose user is not the agent's. */
async function clientIds(s: Session, type: 'normal' | 'pubsub'): Promise<string[]> {
  const text = String(await s.call('CLIENT', 'LIST', 'TYPE', type));
  const ids: string[] = [];
  for (const line of text.split('\n')) {
    const fields = new Map(
      line
        .trim()
        .split(' ')
        .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as const),
    );
    const id = fields.get('id');
    if (id && fields.get('user') !== ADMIN_USER) ids.push(id);
  }
  return ids;
}

/**
 * Ends the applications' connections (not the agent's own, not replicas):
 * a transaction or a blocked command waiting in one ends with it, and each
 * client reconnects to learn where the primary is now.
 */
export async function endClientSessions(s: Session): Promise<void> {
  for (const type of ['normal', 'pubsub'] as const) {
    for (const id of await clientIds(s, type)) await s.call('CLIENT', 'KILL', 'ID', id); // 0 when it left meanwhile
  }
}
