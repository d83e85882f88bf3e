// The ACL users of a replica set. Redis replicates data, never ACL users: a
// user created on the primary does not exist on its replicas, and after a
// failover the new primary would refuse every application. So:
//
//   - the replication account (steward_repl) is made on every member, not only
//     on the source: any member may be promoted and serve replicas. It has
//     exactly what Redis documents for a replica's `masteruser` ("ACL rules for
//     Sentinel and Replicas"): PSYNC, REPLCONF and PING, no keys, no channels.
//   - replicas copy their source's users: `ACL LIST` on the source, applied
//     locally (the password hashes travel, never a password). They do it when
//     they start following, before a promotion, and every few seconds while
//     they follow (manager.ts). The copy goes through a second account,
//     steward_usersync, allowed `ACL LIST` and nothing else, so that the
//     replication account keeps no more than replication needs. Its password
//     is derived from the replication password (HMAC), which every member is
//     given: no second secret to hand out.
//
// What stays each member's own: the agent's admin account (a password per
// instance), the default user (root: enabled per instance, with a password
// shown once) and the two accounts above.
import { createHmac } from 'node:crypto';
import { failedPrecondition, hasCode, invalidArgument } from '../sdk/errors.js';
import { registerSecret } from '../sdk/redact.js';
import type { ReplicationCredentials } from '../sdk/replication.js';
import { deleteAclUser, persistAcl, setAclUser } from './acl.js';
import { withSession, type Session } from './connection.js';
import { RESERVED_USERS, REPLICATION_USER, USER_SYNC_USER } from './validation.js';

/** The replication account's permissions, after `reset`. */
export const REPLICATION_RULES: readonly string[] = ['resetchannels', '-@all', '+psync', '+replconf', '+ping'];
const USER_SYNC_RULES: readonly string[] = ['resetchannels', '-@all', '+acl|list'];

/** The copying account's password: the same on every member that knows the replication password. */
export function userSyncPassword(replicationPassword: string): string {
  const password = createHmac('sha256', replicationPassword).update('steward redis user sync').digest('hex');
  registerSecret(password);
  return password;
}

const str = (v: unknown): string => (Buffer.isBuffer(v) ? v.toString() : String(v ?? ''));

/** Only our own account name: any other could be an application's user, which making the account would overwrite. */
export function checkReplicationUser(creds: ReplicationCredentials | undefined, field = 'credentials'): ReplicationCredentials {
  if (!creds) throw invalidArgument(field, 'is required');
  registerSecret(creds.password);
  if (creds.user !== REPLICATION_USER) throw invalidArgument(`${field}.user`, `the Redis replication account is ${REPLICATION_USER}`);
  return creds;
}

/** Both accounts on this server, with the request's password (idempotent; reset first, so nothing else lingers). */
export async function ensureReplicationAccounts(s: Session, creds: ReplicationCredentials): Promise<void> {
  checkReplicationUser(creds);
  await setAclUser(s, REPLICATION_USER, ['reset', 'on', `>${creds.password}`, ...REPLICATION_RULES], 'credentials');
  await setAclUser(s, USER_SYNC_USER, ['reset', 'on', `>${userSyncPassword(creds.password)}`, ...USER_SYNC_RULES], 'credentials');
  await persistAcl(s);
}

/**
 * `ACL LIST` lines ("user <name> <rule> <rule> ...") as name -> rules. A
 * selector is one rule in parentheses that may hold spaces: kept whole, as
 * ACL SETUSER takes it.
 */
export function parseAclList(reply: unknown): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of Array.isArray(reply) ? reply.map(str) : []) {
    const words = line.split(' ').filter(Boolean);
    if (words[0] !== 'user' || !words[1]) continue;
    const rules: string[] = [];
    for (const w of words.slice(2)) {
      const last = rules.at(-1);
      if (last?.startsWith('(') && !last.endsWith(')')) rules[rules.length - 1] = `${last} ${w}`;
      else rules.push(w);
    }
    out.set(words[1], rules);
  }
  return out;
}

/**
 * The users a replica copies, each as a key that is equal when the rules are:
 * ACL LIST describes a user's categories in a fixed order but its single
 * commands in the order of the server's own command table (not the same on
 * two servers), each at most once, so sorted rules compare.
 */
const copied = (users: Map<string, string[]>): Map<string, string> =>
  new Map([...users].filter(([name]) => !RESERVED_USERS.includes(name)).map(([name, rules]) => [name, [...rules].sort().join(' ')]));

/**
 * Makes this server's users (all but the reserved ones) what `source` lists;
 * returns how many changed. A user this server refuses (a rule it does not
 * know) does not hold up the others: the rest is applied and saved, then the
 * refusal is reported.
 */
export async function applyUsers(s: Session, source: Map<string, string[]>): Promise<number> {
  const want = copied(source);
  const have = copied(parseAclList(await s.call('ACL', 'LIST')));
  let changed = 0;
  const refused: string[] = [];
  for (const [name, rules] of want) {
    if (have.get(name) === rules) continue;
    try {
      await setAclUser(s, name, ['reset', ...source.get(name)!], `users.${name}`);
      changed++;
    } catch (err) {
      if (!hasCode(err, 'INVALID_ARGUMENT')) throw err;
      refused.push((err as Error).message);
    }
  }
  for (const name of have.keys()) {
    if (want.has(name)) continue;
    await deleteAclUser(s, name);
    changed++;
  }
  if (changed) await persistAcl(s);
  if (refused.length) throw failedPrecondition(`users of the source this server cannot take: ${refused.join('; ')}`);
  return changed;
}

/** A member that leaves its replica set keeps no account the set's other members can log in with. */
export async function dropReplicationAccounts(s: Session): Promise<void> {
  let dropped = 0;
  for (const name of [REPLICATION_USER, USER_SYNC_USER]) dropped += await deleteAclUser(s, name);
  if (dropped) await persistAcl(s);
}

export interface SourceAddress {
  host: string;
  port: number;
}

/** The source's users, read through steward_usersync over TCP. */
export async function sourceUsers(source: SourceAddress, creds: ReplicationCredentials, signal: AbortSignal): Promise<Map<string, string[]>> {
  const password = userSyncPassword(creds.password);
  return withSession(
    { host: source.host, port: source.port, user: USER_SYNC_USER, password, connectTimeoutMs: 5_000 },
    async (remote) => parseAclList(await remote.call('ACL', 'LIST')),
    signal,
  );
}
