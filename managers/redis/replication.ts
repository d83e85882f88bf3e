// Redis replication (capability "replication"): Redis's own asynchronous
// replication, a replica following its source by REPLICAOF and logging in as
// steward_repl (replication-users.ts). Positions are replication offsets
// within one replication history (replication-position.ts). The role and the
// fence are written into redis.conf as well as set on the running server
// (replication-config.ts), so a restarted server keeps both.
//
//   promote   REPLICAOF NO ONE on the replica: no restart, nothing to apply
//             first (Redis applies each command as it arrives). FAILOVER is
//             not used: it is driven from the old primary, while the
//             controller's switchover fences that one first and promotes the
//             candidate once it has caught up.
//   fence     min-replicas-to-write beyond reach (config.ts: NOREPLICAS on
//             every write), then the applications' connections are ended.
//   rejoin    REPLICAOF the new primary: Redis continues (PSYNC) when the new
//             primary's history contains this one's, and otherwise replaces
//             the whole dataset with a full copy. What a deposed primary wrote
//             after the promotion is thrown away by Redis itself: there is no
//             errant-writes case to refuse (no DATA_LOSS), nothing to rebuild.
import { setTimeout as sleep } from 'node:timers/promises';
import type { ManagerContext, OperationScope, ReplicationOps } from '../sdk/contract.js';
import { failedPrecondition, hasCode, StewardError } from '../sdk/errors.js';
import type { ReplicationStateFile } from '../sdk/replication-state.js';
import { ReplicationStatus, roleOf, type AttachReplicaRequest, type ReplicationCredentials } from '../sdk/replication.js';
import type { ServerManager } from '../sdk/server-manager.js';
import { scopedSignal } from '../sdk/signals.js';
import { info, type SessionRunner } from './connection.js';
import type { RedisPaths } from './paths.js';
import { loadCredentials, rewriteConfig, saveCredentials } from './replication-config.js';
import { comparePositions, formatPosition, parsePosition, positionOfInfo } from './replication-position.js';
import { endClientSessions, followSource, setFence, stopFollowing } from './replication-server.js';
import { readStatus } from './replication-status.js';
import { applyUsers, checkReplicationUser, dropReplicationAccounts, ensureReplicationAccounts, sourceUsers, type SourceAddress } from './replication-users.js';

/** How long a fence waits for the server to answer before killing it. */
const FENCE_ANSWER_MS = 2_000;
/** How long a promotion waits for a last copy of the old source's users (that source may be dead). */
const LAST_USER_COPY_MS = 2_000;
/** How often waitFor looks at the replica's offset. */
const WAIT_POLL_MS = 50;

export interface RedisReplicationDeps {
  ctx: Pick<ManagerContext, 'runner' | 'secrets' | 'log'>;
  paths: RedisPaths;
  state: ReplicationStateFile;
  /** An admin session (the server must be running). */
  session: SessionRunner;
  /** The server's lifecycle (ServerManager): started (or adopted, and ready) for a rejoin, killed as a last fence, prepared again for a rebuild. */
  server: Pick<ServerManager, 'start' | 'killServer' | 'prepareAgain'>;
}

/** Redis has no synchronous replication (replication-strategy.ts): refused rather than silently asynchronous. */
export function refuseSynchronous(synchronous: boolean): void {
  if (synchronous) throw failedPrecondition('Redis has no synchronous replication: a replica set of Redis is asynchronous');
}

/** What every request to follow a source is checked for before anything changes. */
export function checkAttach(req: AttachReplicaRequest, field: string): ReplicationCredentials {
  refuseSynchronous(req.synchronous);
  return checkReplicationUser(req.credentials, `${field}credentials`);
}

/** Makes this server's users its source's (replication-users.ts); returns how many changed. */
export async function copyUsers(
  d: Pick<RedisReplicationDeps, 'session'>,
  source: SourceAddress,
  creds: ReplicationCredentials,
  signal: AbortSignal,
): Promise<number> {
  const users = await sourceUsers(source, creds, signal);
  return d.session((s) => applyUsers(s, users), signal);
}

/** A replica's periodic copy of its source's users (manager.ts); nothing to do on a primary. */
export async function copySourceUsers(d: Pick<RedisReplicationDeps, 'session' | 'state' | 'ctx'>, signal: AbortSignal): Promise<number> {
  const st = d.state.get();
  if (st.role !== 'replica' || !st.source) return 0;
  return copyUsers(d, st.source, await loadCredentials(d.ctx), signal);
}

export function redisReplicationOps(d: RedisReplicationDeps): ReplicationOps {
  const status = (op: OperationScope) => d.session((s) => readStatus(s, d.state.get()), op.signal);
  const rewrite = () => rewriteConfig(d.ctx, d.paths, d.state.get());

  /** Best effort: the periodic copy catches up with whatever this one misses. */
  const copyUsersQuietly = async (source: SourceAddress, creds: ReplicationCredentials, signal: AbortSignal, timeoutMs?: number) => {
    const scoped = scopedSignal([signal], timeoutMs);
    try {
      await copyUsers(d, source, creds, scoped.signal);
    } catch (err) {
      if (signal.aborted) throw err;
      d.ctx.log.warn({ source: `${source.host}:${source.port}`, err: (err as Error).message }, 'could not copy the users of the replication source');
    } finally {
      scoped.dispose();
    }
  };

  /** Follows the request's source: remembered (file and config) before the server is told, so a restart keeps it. */
  const follow = async (req: AttachReplicaRequest, op: OperationScope) => {
    const creds = checkAttach(req, '');
    const source = { host: req.sourceHost, port: req.sourcePort };
    await saveCredentials(d.ctx, creds);
    await d.state.update({ role: 'replica', source: { ...source, name: req.name }, synchronous: false, fenced: false, failoverGuard: false });
    await rewrite();
    return { source, creds, run: () => d.session((s) => followSource(s, source, creds), op.signal) };
  };

  return {
    async configureSource(req, op) {
      refuseSynchronous(req.synchronous);
      const creds = checkReplicationUser(req.credentials);
      await d.session((s) => ensureReplicationAccounts(s, creds), op.signal);
      // A cascading source is still a replica: its role stays.
      const role = d.state.get().role === 'replica' ? 'replica' : 'primary';
      await d.state.update({ role, synchronous: false, failoverGuard: req.failoverGuard });
      await rewrite();
      return status(op);
    },

    async attach(req, op) {
      const { source, creds, run } = await follow(req, op);
      await run();
      await copyUsersQuietly(source, creds, op.signal);
      return status(op);
    },

    async promote(req, op) {
      const source = req.source;
      if (source) refuseSynchronous(source.synchronous);
      const creds = source && checkReplicationUser(source.credentials, 'source.credentials');
      const st = d.state.get();
      // A switchover's old primary is fenced but alive: users made on it lately come along. A dead one answers nothing, quickly.
      const followed = st.role === 'replica' && st.source ? await loadCredentials(d.ctx).catch(() => undefined) : undefined;
      if (st.source && followed) await copyUsersQuietly(st.source, followed, op.signal, LAST_USER_COPY_MS);
      await d.session(async (s) => {
        await stopFollowing(s);
        if (creds) await ensureReplicationAccounts(s, creds);
        else await dropReplicationAccounts(s);
      }, op.signal);
      // Without a source to serve, it has left its replica set: standalone.
      await d.state.update({
        role: source ? 'primary' : 'standalone',
        source: undefined,
        synchronous: false,
        failoverGuard: source?.failoverGuard ?? false,
        fenced: false,
      });
      await rewrite();
      await d.session((s) => setFence(s, false), op.signal);
      return status(op);
    },

    async fence(op) {
      // Written first: a server that is down (or restarted later) comes back fenced.
      await d.state.update({ fenced: true });
      await rewrite();
      const answer = scopedSignal([op.signal], FENCE_ANSWER_MS);
      try {
        await d.session(async (s) => {
          // The refusal first: a client that reconnects after the sessions end meets it.
          await setFence(s, true);
          await endClientSessions(s);
        }, answer.signal);
      } catch (err) {
        // A server that does not run takes no writes; the file keeps it fenced when it starts.
        // One that runs but does not answer (frozen, wedged) is killed: woken, it would take the writes queued for it.
        // Cancelled or past its deadline too: the state file says fenced already, so the
        // lease no longer guards this server, and nothing else would stop it.
        if (!hasCode(err, 'UNAVAILABLE')) await d.server.killServer();
        if (op.signal.aborted) throw err;
      } finally {
        answer.dispose();
      }
      return status(op).catch(() => ReplicationStatus.fromPartial({ role: roleOf(d.state.get().role), fenced: true, readOnly: true, lagSeconds: -1 }));
    },

    async unfence(op) {
      await d.state.update({ fenced: false });
      await rewrite();
      if (d.state.get().role !== 'replica') await d.session((s) => setFence(s, false), op.signal);
      return status(op);
    },

    status: (op) => status(op),

    async waitFor(position, timeoutMs, op) {
      const target = parsePosition(position);
      const end = Date.now() + timeoutMs;
      await d.session(async (s) => {
        for (;;) {
          const mine = positionOfInfo(await info(s, 'replication'));
          const c = mine && comparePositions(mine, target);
          if (c !== undefined && c >= 0) return;
          if (Date.now() >= end) {
            const where = mine ? formatPosition(mine) : 'no position';
            throw new StewardError(
              'DEADLINE_EXCEEDED',
              `this replica did not reach ${position} within ${timeoutMs} ms (it is at ${where}${c === undefined ? ', a history that does not lead there yet' : ''})`,
            );
          }
          await sleep(WAIT_POLL_MS, undefined, { signal: op.signal });
        }
      }, op.signal);
      return status(op);
    },

    async rejoin(req, op) {
      // A replica from the first moment: `replicaof` in the file before the server may start.
      const { source, creds, run } = await follow(req.attach!, op);
      await d.server.start(op);
      // `promotedAt` is not needed: Redis itself keeps this server's data only when the new primary's history contains it.
      await run();
      await copyUsersQuietly(source, creds, op.signal);
      return status(op);
    },

    async rebuild(req, op) {
      if (req.replicaOf) checkAttach(req.replicaOf, 'replica_of.');
      await d.server.prepareAgain(req, op);
      return status(op);
    },

    restartOnCrash: () => d.state.restartOnCrash,
    holdsWriteLease: () => d.state.holdsWriteLease,
  };
}
