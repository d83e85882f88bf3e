// PostgreSQL 15 streaming replication (docs/replication.md): physical
// standbys streaming from their source through a slot each, hot standby for
// reads, quorum synchronous commit (ANY 1) as the synchronous option,
// promotion with pg_promote() (no restart), and pg_rewind for a former
// primary. The role and the fence live in files the server reads
// (replication-config.ts), so a restarted server keeps them; every call
// writes the files first, then makes the running server read them.
//
// The fence: default_transaction_read_only, which any session could turn off
// for itself, is not enough. pg_hba.conf refuses every client connection over
// TCP (reloaded online, local to this server, never replicated: unlike
// ALTER DATABASE ... ALLOW_CONNECTIONS, which is a catalog write that would
// travel to the replicas and that a fenced primary must not make), then every
// client session is ended. The agent (local socket, peer) and replication
// connections stay.
import { setTimeout as sleep } from 'node:timers/promises';
import type { ManagerContext, OperationScope, ReplicationOps } from '../sdk/contract.js';
import { failedPrecondition, hasCode, invalidArgument, StewardError } from '../sdk/errors.js';
import type { OsUser } from '../sdk/os-user.js';
import { registerSecret } from '../sdk/redact.js';
import type { ReplicationState, ReplicationStateFile } from '../sdk/replication-state.js';
import { ReplicationStatus, roleOf, type AttachReplicaRequest, type ReplicationSourceRequest } from '../sdk/replication.js';
import type { ServerManager } from '../sdk/server-manager.js';
import { scopedSignal } from '../sdk/signals.js';
import { exec, select, type OpenSessions, type Session, type Sessions } from './connection.js';
import type { Installation } from './installation.js';
import type { PgPaths } from './paths.js';
import { reloadRole, writeRoleFiles, writeStandbySignal } from './replication-config.js';
import type { PgReplicationFactsFile } from './replication-facts.js';
import { ensureReplicationRole, requireReplicationRole, syncSlots } from './replication-source.js';
import { inRecovery, readStatus } from './replication-status.js';
import { rewind } from './rewind.js';
import { pastFork } from './timeline-fork.js';
import { ADMIN_USER } from './validation.js';
import { isLsn, parseLsn } from './wal.js';

/** How long a fence waits for the server to answer at all before killing it. */
const FENCE_ANSWER_MS = 2_000;
/** How long an answering server has for the rest of the fence (reload, sessions ended). */
const FENCE_DONE_MS = 10_000;
/** How long a promotion waits for the source's last words (what it said it has flushed) to arrive. */
const SOURCE_END_WAIT_MS = 3_000;
/** How long a promotion waits for received WAL to be applied while applying advances (pg_promote applies the rest). */
const APPLY_WAIT_MS = 60_000;
/** Applying that has not advanced for this long has nothing more it can apply (a partial record of a dead source). */
const APPLY_STALL_MS = 2_000;
/** How long an attach waits for the replica to stream from its new source (or to show it never can) before it answers. */
const ATTACH_WAIT_MS = 10_000;
const POLL_MS = 50;

export interface PgReplicationDeps {
  ctx: ManagerContext;
  paths: PgPaths;
  state: ReplicationStateFile;
  facts: PgReplicationFactsFile;
  /** Admin sessions bound to a signal (the server must be running). */
  open: OpenSessions;
  /** The server's OS account, when the agent runs as root. */
  serverUser(): Promise<OsUser | undefined>;
  installation(): Promise<Installation>;
  /** The server's lifecycle (ServerManager): stopped and started for a rejoin, killed as a last fence, prepared again for a rebuild. */
  server: Pick<ServerManager, 'start' | 'stop' | 'killServer' | 'prepareAgain' | 'serviceSpec'>;
}

const lsnValue = (text: string | null | undefined): bigint => (text && isLsn(text) ? parseLsn(text) : 0n);

/** Client sessions (not the agent's, not walsenders, not this one), each waited for up to a second. */
async function endClientSessions(s: Session): Promise<void> {
  await select(
    s,
    `SELECT pg_terminate_backend(pid, 1000) FROM pg_stat_activity
      WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND usename IS DISTINCT FROM $1`,
    [ADMIN_USER],
  );
}

/**
 * Before a standby is promoted: replay resumed if someone paused it, what the
 * source last said it has flushed received (while it streams, briefly), and
 * what was received applied while applying advances. pg_promote applies
 * whatever complete records are left in any case; this only keeps the wait
 * for it out of pg_promote's own time limit.
 */
async function drainBeforePromotion(s: Session, signal: AbortSignal): Promise<void> {
  const [p] = await select<{ paused: boolean }>(s, 'SELECT pg_is_wal_replay_paused() AS paused');
  if (p.paused) await exec(s, 'SELECT pg_wal_replay_resume()');
  const sourceDeadline = Date.now() + SOURCE_END_WAIT_MS;
  for (;;) {
    const [r] = await select<{ received: string | null; end: string | null; status: string | null }>(
      s,
      `SELECT pg_last_wal_receive_lsn()::text AS received, w.latest_end_lsn::text AS end, w.status
         FROM (SELECT 1) one LEFT JOIN pg_stat_wal_receiver w ON true`,
    );
    if (r.status !== 'streaming' || lsnValue(r.received) >= lsnValue(r.end) || Date.now() > sourceDeadline) break;
    await sleep(POLL_MS, undefined, { signal });
  }
  const applyDeadline = Date.now() + APPLY_WAIT_MS;
  let last = -1n;
  let since = Date.now();
  for (;;) {
    const [r] = await select<{ replayed: string | null; received: string | null }>(
      s,
      'SELECT pg_last_wal_replay_lsn()::text AS replayed, pg_last_wal_receive_lsn()::text AS received',
    );
    const replayed = lsnValue(r.replayed);
    if (replayed >= lsnValue(r.received) || Date.now() > applyDeadline) return;
    if (replayed !== last) {
      last = replayed;
      since = Date.now();
    } else if (Date.now() - since > APPLY_STALL_MS) return;
    await sleep(POLL_MS, undefined, { signal });
  }
}

/**
 * Promotes the standby and waits until it takes writes (pg_promote's own wait
 * is a minute; a longer replay is waited for too), then checkpoints: until its
 * control file records the new timeline, pg_rewind of a former primary onto it
 * reads the old one and leaves a server that cannot start ("requested timeline
 * N does not contain minimum recovery point"), as pg_rewind's documentation
 * warns. The end-of-recovery checkpoint a promotion requests is not waited
 * for; a quick rejoin raced it.
 */
async function promoteStandby(s: Session, signal: AbortSignal): Promise<void> {
  const [r] = await select<{ done: boolean }>(s, 'SELECT pg_promote(true, 60) AS done');
  // Triggered and under way: it cannot be taken back, only waited for (the operation's deadline bounds it).
  if (!r.done) while (await inRecovery(s)) await sleep(250, undefined, { signal });
  await exec(s, 'CHECKPOINT');
}

/**
 * After a re-point: resolves once the replica streams from its new source
 * (undefined), or with why it never can (it went past the source's fork), or
 * (undefined) after a while: a source that is down is waited for by the
 * server itself, and the status says it is not streaming. "Streams" is WAL
 * flushed from the new source since the WAL receiver (re)started: the
 * receiver says "streaming" as soon as it runs, and fetches the source's
 * timeline history (which shows a fork) only after it has connected.
 */
async function streamingOrPastFork(sessions: Sessions, st: ReplicationState, signal: AbortSignal): Promise<string | undefined> {
  const until = Date.now() + ATTACH_WAIT_MS;
  return sessions(async (s) => {
    while (Date.now() < until) {
      // The fork first: past it, the WAL receiver still streams the old timeline's last segment now and then.
      const fork = await pastFork(s);
      if (fork) return fork;
      const [w] = await select<{ streaming: boolean }>(
        s,
        // On the newest timeline it knows of: a replica past the fork streams the old timeline's
        // last segment for a moment (flushed beyond its start) before its server sees the fork.
        `SELECT status = 'streaming' AND sender_host = $1 AND sender_port = $2 AND flushed_lsn > receive_start_lsn
                AND received_tli >= (SELECT coalesce(max(('x' || substr(name, 1, 8))::bit(32)::int), 0)
                                       FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{8}\\.history$') AS streaming
           FROM pg_stat_wal_receiver`,
        [st.source?.host ?? '', st.source?.port ?? 0],
      );
      if (w?.streaming) return undefined;
      await sleep(100, undefined, { signal });
    }
    return undefined;
  });
}

export function postgresqlReplicationOps(d: PgReplicationDeps): ReplicationOps {
  const status = (op: OperationScope) => d.open(op.signal)((s) => readStatus(s, d.state.get()));
  const roleDeps = async () => ({ paths: d.paths, serverUser: await d.serverUser() });

  /** The role's files for `st`, then (a running server) reloaded. */
  const applyRole = async (st: ReplicationState, sessions: Sessions | undefined, signal: AbortSignal, password?: string): Promise<void> => {
    await writeRoleFiles(await roleDeps(), st, d.facts.get(), { password });
    if (sessions) await reloadRole(sessions, d.paths.replicationConf, signal);
  };

  /**
   * Stopped (cleanly: its last checkpoint ends its WAL; a killed server is
   * recovered first), rewound onto `source`, started as its standby. The
   * role files must already say so. A standby that still goes past the
   * source's fork once started (WAL its control file did not account for)
   * is rewound once more, from where it got to; after that it is DATA_LOSS.
   */
  const rewindOnto = async (source: AttachReplicaRequest, op: OperationScope, promotedAt = ''): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      await d.server.stop(op);
      op.progress(30, `rewinding onto ${source.sourceHost}:${source.sourcePort}`);
      const result = await rewind({
        ctx: d.ctx,
        inst: await d.installation(),
        paths: d.paths,
        serverUser: await d.serverUser(),
        source: { host: source.sourceHost, port: source.sourcePort },
        user: source.credentials!.user,
        signal: op.signal,
      });
      d.ctx.log.info({ rewound: result.rewound, promotedAt, output: result.output }, 'rewound onto the new source');
      await writeStandbySignal(d.ctx.dataDir, await d.serverUser());
      await d.server.start(op);
      const fork = await streamingOrPastFork(d.open(op.signal), d.state.get(), op.signal);
      if (!fork) return;
      if (attempt >= 2) {
        throw new StewardError(
          'DATA_LOSS',
          `rewound onto ${source.sourceHost}:${source.sourcePort}, this server still cannot follow it (${fork}): it must be rebuilt from a backup`,
        );
      }
      d.ctx.log.warn({ fork }, 'still past the fork of the new source after a rewind: rewinding again');
    }
  };

  /** The replication account (on a writable server; a standby has it from its primary) and one slot per replica. */
  const serveReplicas = async (sessions: Sessions, req: ReplicationSourceRequest): Promise<void> => {
    const creds = req.credentials!;
    registerSecret(creds.password);
    await sessions(async (s) => {
      if (await inRecovery(s)) await requireReplicationRole(s, creds.user);
      else await ensureReplicationRole(s, creds);
      await syncSlots(
        s,
        d.facts,
        req.replicas.map((r) => r.name),
      );
    });
    await d.facts.update({ user: creds.user, served: req.replicas.map((r) => r.name) });
  };

  return {
    async configureSource(req, op) {
      registerSecret(req.credentials!.password);
      // A fenced primary writes nothing, not even the replication account: unfence it first (or it is being failed over).
      if (d.state.get().fenced) throw failedPrecondition('this instance is fenced: it takes no writes until it is unfenced');
      const sessions = d.open(op.signal);
      await serveReplicas(sessions, req);
      // A cascading source is still a replica: its role stays.
      const role = d.state.get().role === 'replica' ? 'replica' : 'primary';
      const st = await d.state.update({ role, synchronous: req.synchronous, failoverGuard: req.failoverGuard });
      await applyRole(st, sessions, op.signal);
      return status(op);
    },

    async attach(req, op) {
      const creds = req.credentials!;
      registerSecret(creds.password);
      const sessions = d.open(op.signal);
      if (!(await sessions(inRecovery))) {
        throw failedPrecondition('this server takes writes: it follows a source only after a rejoin (pg_rewind), not an attach');
      }
      const st = await d.state.update({
        role: 'replica',
        source: { host: req.sourceHost, port: req.sourcePort, name: req.name },
        synchronous: req.synchronous,
        fenced: false,
        failoverGuard: false,
      });
      await d.facts.update({ user: creds.user });
      // primary_conninfo and primary_slot_name take effect on a reload: the WAL receiver restarts with them.
      await applyRole(st, sessions, op.signal, creds.password);
      const fork = await streamingOrPastFork(sessions, st, op.signal);
      if (fork) {
        d.ctx.log.warn({ source: `${req.sourceHost}:${req.sourcePort}`, fork }, "this replica went past its new source's fork: rewinding it");
        await rewindOnto(req, op);
      }
      return status(op);
    },

    async promote(req, op) {
      const source = req.source;
      if (source) registerSecret(source.credentials!.password);
      const sessions = d.open(op.signal);
      const next: ReplicationState = {
        // Without a source to serve, it has left its replica set: standalone.
        role: source ? 'primary' : 'standalone',
        source: undefined,
        synchronous: source?.synchronous ?? false,
        failoverGuard: source?.failoverGuard ?? false,
        fenced: false,
      };
      if (source) await d.facts.update({ user: source.credentials!.user, served: source.replicas.map((r) => r.name) });
      const standby = await sessions(inRecovery);
      // Everything the source sent, received and applied while it still streams.
      if (standby) await sessions((s) => drainBeforePromotion(s, op.signal));
      // The primary's settings before it takes writes (synchronous standbys among them): its first commit already waits for a replica.
      await applyRole({ ...d.state.get(), ...next }, sessions, op.signal);
      if (standby) await sessions((s) => promoteStandby(s, op.signal));
      if (source) await serveReplicas(sessions, source);
      else await sessions((s) => syncSlots(s, d.facts, []));
      const st = await d.state.update(next);
      await applyRole(st, sessions, op.signal);
      return status(op);
    },

    async fence(op) {
      // Written first: a server that is down (or restarted later) comes back fenced.
      const st = await d.state.update({ fenced: true });
      await applyRole(st, undefined, op.signal);
      const answer = scopedSignal([op.signal], FENCE_ANSWER_MS);
      const done = scopedSignal([op.signal], FENCE_DONE_MS);
      try {
        await d.open(answer.signal)((s) => select(s, 'SELECT 1'));
        const sessions = d.open(done.signal);
        // The new pg_hba.conf in force first, so that no session ended below is replaced by a new one.
        await reloadRole(sessions, d.paths.replicationConf, done.signal);
        await sessions(endClientSessions);
      } catch (err) {
        // A server that does not run takes no writes; the files keep it fenced when it starts.
        // One that runs but does not answer (frozen, wedged), or refuses the agent (starting up with the files
        // as they were before), is killed: woken or started, it would take the writes queued for it. So too
        // when the fence was cancelled or ran out of time: the state says fenced, the lease no longer guards it.
        const running = (await d.ctx.service.state(await d.server.serviceSpec())) === 'running';
        if (!hasCode(err, 'UNAVAILABLE') || running) await d.server.killServer();
        if (op.signal.aborted) throw err;
      } finally {
        answer.dispose();
        done.dispose();
      }
      return status(op).catch(() => ReplicationStatus.fromPartial({ role: roleOf(st.role), fenced: true, readOnly: true, lagSeconds: -1 }));
    },

    async unfence(op) {
      const st = await d.state.update({ fenced: false });
      await applyRole(st, d.open(op.signal), op.signal);
      return status(op);
    },

    status: (op) => status(op),

    async waitFor(position, timeoutMs, op) {
      if (position && !isLsn(position)) throw invalidArgument('position', `${JSON.stringify(position.slice(0, 40))} is not a PostgreSQL LSN`);
      const target = lsnValue(position);
      const until = Date.now() + timeoutMs;
      const reached = await d.open(op.signal)(async (s) => {
        for (;;) {
          const [r] = await select<{ at: string | null }>(
            s,
            'SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END)::text AS at',
          );
          if (lsnValue(r.at) >= target) return true;
          if (Date.now() >= until) return false;
          await sleep(POLL_MS, undefined, { signal: op.signal });
        }
      });
      if (!reached) throw new StewardError('DEADLINE_EXCEEDED', `this replica did not apply ${position} within ${timeoutMs} ms`);
      return status(op);
    },

    async rejoin(req, op) {
      const attach = req.attach!;
      const creds = attach.credentials!;
      registerSecret(creds.password);
      // A replica from the first moment, and fenced until it is a standby: a server started meanwhile (an agent restart) takes no write.
      let st = await d.state.update({
        role: 'replica',
        source: { host: attach.sourceHost, port: attach.sourcePort, name: attach.name },
        synchronous: attach.synchronous,
        fenced: true,
        failoverGuard: false,
      });
      await d.facts.update({ user: creds.user, served: [] });
      await applyRole(st, undefined, op.signal, creds.password);
      // What it has beyond the fork (beyond req.promotedAt, or only its own shutdown checkpoint) is undone; pg_rewind finds the fork itself.
      await rewindOnto(attach, op, req.promotedAt);
      st = await d.state.update({ fenced: false });
      const sessions = d.open(op.signal);
      await applyRole(st, sessions, op.signal);
      // Slots it kept from its time as a primary would hold WAL on this standby for ever.
      await sessions((s) => syncSlots(s, d.facts, []));
      return status(op);
    },

    async rebuild(req, op) {
      await d.server.prepareAgain(req, op);
      return status(op);
    },

    restartOnCrash: () => d.state.restartOnCrash,
    holdsWriteLease: () => d.state.holdsWriteLease,
  };
}
