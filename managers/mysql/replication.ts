// MariaDB replication (docs/replication.md): GTID replication with
// MASTER_USE_GTID=slave_pos, strict GTID mode, read_only replicas, and
// semi-synchronous AFTER_SYNC as the synchronous option. The replication
// account is created on the source and replicates from there, so every member
// has it once it might be promoted. The role and fencing are written into
// my.cnf as well as set on the running server, so a restart keeps them.
// MySQL 8 uses another GTID model: refused clearly until it is supported.
import type { OperationScope, ReplicationOps } from '../sdk/contract.js';
import { failedPrecondition, hasCode, StewardError } from '../sdk/errors.js';
import { registerSecret } from '../sdk/redact.js';
import type { ReplicationStateFile } from '../sdk/replication-state.js';
import { ReplicationRole, ReplicationStatus, roleOf, type AttachReplicaRequest, type ReplicationSourceRequest } from '../sdk/replication.js';
import { exec, select, type Session, type SessionRunner } from './connection.js';
import type { Flavour } from './flavour.js';
import { errantGtids } from './gtid.js';
import type { MysqlPaths } from './paths.js';
import type { ServerManager } from '../sdk/server-manager.js';
import { scopedSignal } from '../sdk/signals.js';
import { rewriteConfig } from './replication-config.js';
import { ADMIN_USER } from './validation.js';

/** The account replicas connect with; reserved in validation.ts. */
export const REPLICATION_USER = 'steward_repl';
/** How long promote waits for a replica to apply what it already received (relay log). */
const APPLY_RELAY_TIMEOUT_S = 60;
/** How long a fence waits for the server to answer before killing it. */
const FENCE_ANSWER_MS = 2_000;

export interface MysqlReplicationDeps {
  paths: MysqlPaths;
  state: ReplicationStateFile;
  /** An admin session (the server must be running). */
  session: SessionRunner;
  flavour(): Promise<Flavour>;
  /** The server's lifecycle (ServerManager): started (or adopted, and ready) for a rejoin, killed as a last fence, prepared again for a rebuild. */
  server: Pick<ServerManager, 'start' | 'killServer' | 'prepareAgain'>;
}

interface SlaveStatus {
  Slave_IO_Running: string;
  Slave_SQL_Running: string;
  Master_Host: string;
  Seconds_Behind_Master: string | null;
  Gtid_IO_Pos: string;
  Last_IO_Error: string;
  Last_SQL_Error: string;
}

async function slaveStatus(s: Session): Promise<SlaveStatus | undefined> {
  const [row] = await select<SlaveStatus>(s, 'SHOW SLAVE STATUS');
  return row;
}

async function variable(s: Session, expr: string): Promise<string> {
  const [row] = await select<{ v: string | number | null }>(s, `SELECT ${expr} AS v`);
  return row?.v === null || row?.v === undefined ? '' : String(row.v);
}

async function statusVariable(s: Session, name: string): Promise<string> {
  const [row] = await select<{ Value: string }>(s, 'SHOW GLOBAL STATUS LIKE ?', [name]);
  return row?.Value ?? '';
}

/** The replicas streaming from this server now: their connection's address. */
async function connectedReplicas(s: Session): Promise<Array<{ name: string; host: string }>> {
  const rows = await select<{ HOST: string }>(s, "SELECT HOST FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'");
  return rows.map((r) => ({ name: '', host: r.HOST.replace(/:\d+$/, '') }));
}

export async function readStatus(s: Session, state: ReplicationStateFile): Promise<ReplicationStatus> {
  const st = state.get();
  const readOnly = (await variable(s, '@@GLOBAL.read_only')) === '1';
  const base = ReplicationStatus.fromPartial({ role: roleOf(st.role), lagSeconds: -1, readOnly, fenced: st.fenced, synchronous: st.synchronous });
  if (st.role !== 'replica') {
    return {
      ...base,
      position: await variable(s, '@@GLOBAL.gtid_binlog_pos'),
      synchronous: st.synchronous && (await statusVariable(s, 'Rpl_semi_sync_master_status')) === 'ON',
      replicas: await connectedReplicas(s),
    };
  }
  const slave = await slaveStatus(s);
  const applied = await variable(s, '@@GLOBAL.gtid_slave_pos');
  const io = slave?.Slave_IO_Running === 'Yes';
  const sql = slave?.Slave_SQL_Running === 'Yes';
  return {
    ...base,
    position: applied,
    received: slave?.Gtid_IO_Pos || applied,
    sourceHost: slave?.Master_Host ?? st.source?.host ?? '',
    connected: io && sql,
    lagSeconds: slave?.Seconds_Behind_Master === null || slave?.Seconds_Behind_Master === undefined ? -1 : Number(slave.Seconds_Behind_Master),
    synchronous: st.synchronous && (await statusVariable(s, 'Rpl_semi_sync_slave_status')) === 'ON',
    error: [slave?.Last_IO_Error, slave?.Last_SQL_Error].filter((e) => !!e).join('; ') || (slave ? '' : 'not configured to follow a source'),
  };
}

/** Points this server at a source and starts replicating (read-only from now on). */
export async function followSource(s: Session, req: AttachReplicaRequest): Promise<void> {
  const creds = req.credentials!;
  registerSecret(creds.password);
  await exec(s, 'SET GLOBAL read_only = ON');
  await exec(s, 'STOP SLAVE');
  // A dead source is noticed within seconds (heartbeats every second, 10 s without data), and retried every second.
  await exec(s, 'SET GLOBAL slave_net_timeout = 10');
  await exec(
    s,
    'CHANGE MASTER TO MASTER_HOST = ?, MASTER_PORT = ?, MASTER_USER = ?, MASTER_PASSWORD = ?, MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1, MASTER_HEARTBEAT_PERIOD = 1',
    [req.sourceHost, req.sourcePort, creds.user, creds.password],
  );
  await exec(s, `SET GLOBAL rpl_semi_sync_slave_enabled = ${req.synchronous ? 'ON' : 'OFF'}`);
  await exec(s, 'START SLAVE');
}

/** The replication account and the source's semi-synchronous setting (idempotent). */
async function serveReplicas(s: Session, req: ReplicationSourceRequest, opts: { isReplica: boolean }): Promise<void> {
  const creds = req.credentials!;
  registerSecret(creds.password);
  if ((await variable(s, '@@GLOBAL.log_bin')) !== '1') {
    throw failedPrecondition('this instance has no binary log (prepared before replication support): it cannot serve replicas');
  }
  // On a replica (a cascading source) the account is made outside the binary
  // log: a transaction of its own would be an errant GTID, which stops its
  // replication under gtid_strict_mode and bars it from any later promotion.
  if (opts.isReplica) await exec(s, 'SET SESSION sql_log_bin = 0');
  try {
    await exec(s, "CREATE USER IF NOT EXISTS ?@'%' IDENTIFIED BY ?", [creds.user, creds.password]);
    await exec(s, "ALTER USER ?@'%' IDENTIFIED BY ?", [creds.user, creds.password]);
    await exec(s, "GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO ?@'%'", [creds.user]);
  } finally {
    if (opts.isReplica) await exec(s, 'SET SESSION sql_log_bin = 1');
  }
  if (req.synchronous) {
    await exec(s, "SET GLOBAL rpl_semi_sync_master_wait_point = 'AFTER_SYNC'");
    await exec(s, 'SET GLOBAL rpl_semi_sync_master_timeout = 18446744073709551615');
  }
  await exec(s, `SET GLOBAL rpl_semi_sync_master_enabled = ${req.synchronous ? 'ON' : 'OFF'}`);
}

/** Client sessions (not the agent, not replication threads, not this one). */
async function endClientSessions(s: Session): Promise<void> {
  const rows = await select<{ ID: string }>(
    s,
    "SELECT ID FROM information_schema.PROCESSLIST WHERE USER NOT IN (?, ?, 'system user', 'event_scheduler') AND COMMAND NOT LIKE 'Binlog Dump%' AND ID <> CONNECTION_ID()",
    [ADMIN_USER, REPLICATION_USER],
  );
  for (const r of rows) await exec(s, 'KILL CONNECTION ?', [Number(r.ID)]).catch(() => undefined); // gone meanwhile
}

export function mysqlReplicationOps(d: MysqlReplicationDeps): ReplicationOps {
  const mariadb = async () => {
    if ((await d.flavour()).name !== 'mariadb') throw failedPrecondition('replication of MySQL 8 is not supported by this agent yet (MariaDB only)');
  };
  const status = (op: OperationScope) => d.session((s) => readStatus(s, d.state), op.signal);

  return {
    async configureSource(req, op) {
      await mariadb();
      // A cascading source is still a replica: its role stays.
      const isReplica = d.state.get().role === 'replica';
      await d.session((s) => serveReplicas(s, req, { isReplica }), op.signal);
      const role = isReplica ? 'replica' : 'primary';
      await d.state.update({ role, synchronous: req.synchronous, failoverGuard: req.failoverGuard });
      await rewriteConfig(d.paths, d.state.get());
      return status(op);
    },

    async attach(req, op) {
      await mariadb();
      await d.state.update({
        role: 'replica',
        source: { host: req.sourceHost, port: req.sourcePort, name: req.name },
        synchronous: req.synchronous,
        fenced: false,
        failoverGuard: false,
      });
      await rewriteConfig(d.paths, d.state.get());
      await d.session((s) => followSource(s, req), op.signal);
      return status(op);
    },

    async promote(req, op) {
      await mariadb();
      const source = req.source;
      let takeover = '';
      await d.session(async (s) => {
        // What the replica already received from the old source is applied first: nothing acknowledged is left behind.
        const slave = await slaveStatus(s);
        if (slave?.Gtid_IO_Pos) {
          const [row] = await select<{ r: number }>(s, 'SELECT MASTER_GTID_WAIT(?, ?) AS r', [slave.Gtid_IO_Pos, APPLY_RELAY_TIMEOUT_S]);
          if (Number(row?.r) !== 0)
            throw new StewardError('DEADLINE_EXCEEDED', `the relay log was not applied up to ${slave.Gtid_IO_Pos} within ${APPLY_RELAY_TIMEOUT_S} s`);
        }
        await exec(s, 'STOP SLAVE');
        // The history it takes over, before it writes anything of its own: a
        // former primary with a transaction beyond this has errant writes (read
        // after the first new write, a sequence number past the errant one would
        // hide it, and the former primary could never follow).
        takeover = await variable(s, '@@GLOBAL.gtid_binlog_pos');
        await exec(s, 'RESET SLAVE ALL');
        await exec(s, 'SET GLOBAL rpl_semi_sync_slave_enabled = OFF');
        if (source) await serveReplicas(s, source, { isReplica: false });
      }, op.signal);
      // Without a source to serve, it has left its replica set: standalone.
      await d.state.update({
        role: source ? 'primary' : 'standalone',
        source: undefined,
        synchronous: source?.synchronous ?? false,
        failoverGuard: source?.failoverGuard ?? false,
        fenced: false,
      });
      await rewriteConfig(d.paths, d.state.get());
      await d.session((s) => exec(s, 'SET GLOBAL read_only = OFF'), op.signal);
      const now = await status(op);
      return { ...now, position: takeover || now.position };
    },

    async fence(op) {
      await mariadb();
      // Written first: a server that is down (or restarted later) comes back read-only.
      await d.state.update({ fenced: true });
      await rewriteConfig(d.paths, d.state.get());
      const answer = scopedSignal([op.signal], FENCE_ANSWER_MS);
      try {
        await d.session(async (s) => {
          // Sessions first (a statement in progress would hold up read_only), then any that came in meanwhile.
          await endClientSessions(s);
          await exec(s, 'SET GLOBAL read_only = ON');
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
      return status(op).catch(() => ReplicationStatus.fromPartial({ role: ReplicationRole.PRIMARY, fenced: true, readOnly: true, lagSeconds: -1 }));
    },

    async unfence(op) {
      await mariadb();
      await d.state.update({ fenced: false });
      await rewriteConfig(d.paths, d.state.get());
      if (d.state.get().role !== 'replica') await d.session((s) => exec(s, 'SET GLOBAL read_only = OFF'), op.signal);
      return status(op);
    },

    status: (op) => status(op),

    async waitFor(position, timeoutMs, op) {
      await mariadb();
      const [row] = await d.session((s) => select<{ r: number | null }>(s, 'SELECT MASTER_GTID_WAIT(?, ?) AS r', [position, timeoutMs / 1000]), op.signal);
      if (Number(row?.r) !== 0) throw new StewardError('DEADLINE_EXCEEDED', `this replica did not apply ${position} within ${timeoutMs} ms`);
      return status(op);
    },

    async rejoin(req, op) {
      await mariadb();
      const attach = req.attach!;
      // A replica from the first moment: read-only in the file before the server may start.
      await d.state.update({
        role: 'replica',
        source: { host: attach.sourceHost, port: attach.sourcePort, name: attach.name },
        synchronous: attach.synchronous,
        fenced: false,
        failoverGuard: false,
      });
      await rewriteConfig(d.paths, d.state.get());
      await d.server.start(op);
      await d.session(async (s) => {
        await exec(s, 'SET GLOBAL read_only = ON');
        const mine = await variable(s, '@@GLOBAL.gtid_binlog_pos');
        const errant = req.promotedAt ? errantGtids(mine, req.promotedAt) : '';
        if (errant) {
          throw new StewardError(
            'DATA_LOSS',
            `this former primary has transactions the new primary never received (${errant}, beyond ${req.promotedAt}): it must be rebuilt from a backup`,
          );
        }
        // It continues from what it wrote itself, all of which the new primary has.
        await exec(s, 'SET GLOBAL gtid_slave_pos = @@GLOBAL.gtid_binlog_pos');
        await followSource(s, attach);
      }, op.signal);
      return status(op);
    },

    async rebuild(req, op) {
      await mariadb();
      await d.server.prepareAgain(req, op);
      return status(op);
    },

    restartOnCrash: () => d.state.restartOnCrash,
    holdsWriteLease: () => d.state.holdsWriteLease,
  };
}
