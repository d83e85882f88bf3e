// Securing a node (or, run on one member, a whole ring): system_auth gets
// replicas in every data center (it starts with a single replica, which would
// make every login depend on one node), the agent's admin superuser role is
// created with the stored credentials, and Cassandra's well-known default
// superuser is switched off. Safe to repeat: a retry finds the admin role
// working and only makes sure the default one is off.
import { setTimeout as sleep } from 'node:timers/promises';
import { StewardError } from '../sdk/errors.js';
import { registerSecret } from '../sdk/redact.js';
import { withSession, type Credentials, type Endpoint, type Session } from './connection.js';
import { DEFAULT_CREDENTIALS, type AdminAccess } from './credentials.js';
import { defaultReplication, membersIn, readTopology, replicationLiteral } from './topology.js';
import { roleExists } from './users.js';
import { DEFAULT_ROLE, cqlString, quoteCqlIdent } from './validation.js';

/** How long a new role may take to become usable (auth caches, replicas catching up). */
const ADMIN_LOGIN_WAIT_MS = 60_000;
const CREATE_ATTEMPTS = 3;
/** Role and credential caches hold an entry for 2 s by default. */
const DEFAULT_REFUSED_WAIT_MS = 30_000;

async function disableDefaultRole(s: Session): Promise<void> {
  await s.exec(`ALTER ROLE ${quoteCqlIdent(DEFAULT_ROLE)} WITH SUPERUSER = false AND LOGIN = false`);
}

/** How long a member that just joined may take to reach NORMAL before the replication change is given up. */
const RANGES_SETTLE_MS = 120_000;

/**
 * NetworkTopologyStrategy with up to three replicas per data center, unless it
 * already is exactly that. Gossip tells this member about the others a moment
 * after they start: until it sees all `expectedMembers` the replication would
 * be computed for a smaller ring (system_auth on two replicas of a three-node
 * ring), so wait for them. Cassandra also refuses to change replication while
 * a member is still joining (its ranges are moving): wait that out too.
 */
async function replicateAuth(s: Session, expectedMembers: number, signal: AbortSignal): Promise<void> {
  const deadline = Date.now() + RANGES_SETTLE_MS;
  let topology = await readTopology(s);
  for (let seen = membersIn(topology); seen < expectedMembers; seen = membersIn(topology)) {
    if (Date.now() > deadline) {
      throw new StewardError('FAILED_PRECONDITION', `this member sees ${seen} of the ring's ${expectedMembers} members; system_auth would be under-replicated`);
    }
    await sleep(1_000, undefined, { signal });
    topology = await readTopology(s);
  }
  const target = defaultReplication(topology);
  const [row] = await s.rows("SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = 'system_auth'");
  const current = (row?.replication ?? {}) as Record<string, string>;
  const same =
    current.class === 'org.apache.cassandra.locator.NetworkTopologyStrategy' &&
    Object.keys(current).length === Object.keys(target).length + 1 &&
    Object.entries(target).every(([dc, rf]) => current[dc] === String(rf));
  if (same) return;
  for (;;) {
    try {
      await s.exec(`ALTER KEYSPACE system_auth WITH replication = ${replicationLiteral(target)}`);
      return;
    } catch (err) {
      if (!/not in normal state/i.test((err as Error).message) || Date.now() > deadline) throw err;
      await sleep(1_000, undefined, { signal });
    }
  }
}

async function createAdminRole(s: Session, admin: Credentials): Promise<void> {
  const verb = (await roleExists(s, admin.user)) ? 'ALTER' : 'CREATE';
  await s.exec(`${verb} ROLE ${quoteCqlIdent(admin.user)} WITH PASSWORD = ${cqlString(admin.password)} AND LOGIN = true AND SUPERUSER = true`);
}

/** Whether `admin` logs in; other failures (node down) are thrown. */
async function canLogIn(endpoint: Endpoint, admin: Credentials, signal: AbortSignal): Promise<boolean> {
  try {
    await withSession({ ...endpoint, credentials: admin, connectTimeoutMs: 5_000 }, async () => undefined, signal);
    return true;
  } catch (err) {
    if ((err as StewardError).code === 'PERMISSION_DENIED') return false;
    throw err;
  }
}

/**
 * As the default superuser: replicate system_auth, then create the admin role
 * at once, in the same session. The order matters: a role created before the
 * replication change would live on one replica only, and the admin cannot
 * repair its own row (no role may alter its own superuser status). The default
 * role's row is the one left behind, which is fine: it is switched off next.
 */
async function createAdminAsDefault(endpoint: Endpoint, admin: Credentials, expectedMembers: number, signal: AbortSignal): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    let loggedIn = false;
    try {
      await withSession(
        { ...endpoint, credentials: DEFAULT_CREDENTIALS },
        async (s) => {
          loggedIn = true;
          await replicateAuth(s, expectedMembers, signal);
          await createAdminRole(s, admin);
        },
        signal,
      );
      return;
    } catch (err) {
      const denied = (err as StewardError).code === 'PERMISSION_DENIED';
      if (denied && !loggedIn) {
        throw new StewardError(
          'FAILED_PRECONDITION',
          `neither the admin role '${admin.user}' nor the default superuser can log in: the ring was secured with other credentials`,
        );
      }
      // Just after the replication change the default role's own row may not be found by every read: ask again.
      if (!denied || attempt >= CREATE_ATTEMPTS) throw err;
      await sleep(1_000, undefined, { signal });
    }
  }
}

/** `expectedMembers`: the ring this node is part of (1 for a lone node), all of which must be seen before auth is replicated. */
export async function secureNode(access: AdminAccess, endpoint: Endpoint, admin: Credentials, expectedMembers: number, signal: AbortSignal): Promise<void> {
  registerSecret(admin.password);
  if (!(await canLogIn(endpoint, admin, signal))) {
    await createAdminAsDefault(endpoint, admin, expectedMembers, signal);
    const deadline = Date.now() + ADMIN_LOGIN_WAIT_MS;
    while (!(await canLogIn(endpoint, admin, signal))) {
      if (Date.now() > deadline) throw new StewardError('INTERNAL', `the new admin role '${admin.user}' cannot log in`);
      await sleep(500, undefined, { signal });
    }
  }
  await withSession({ ...endpoint, credentials: admin }, disableDefaultRole, signal);
  await access.markSecured();
  // The server caches logins for a moment: done means the default superuser is really refused here.
  const deadline = Date.now() + DEFAULT_REFUSED_WAIT_MS;
  while (await canLogIn(endpoint, DEFAULT_CREDENTIALS, signal)) {
    if (Date.now() > deadline) throw new StewardError('INTERNAL', `the default superuser '${DEFAULT_ROLE}' still logs in after being disabled`);
    await sleep(500, undefined, { signal });
  }
}
