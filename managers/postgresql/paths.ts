// Where this manager keeps things, all derived from the context so that a
// restarted agent finds the same files. The configuration lives outside the
// data directory (as Debian does it), so a retried prepare can wipe the data
// directory without losing it, and the server never writes to it.
import { join } from 'node:path';
import type { ManagerContext } from '../sdk/contract.js';
import type { ServiceSpec } from '../sdk/service-control.js';
import { bin, type Installation } from './installation.js';

/** The OS account the server runs as (created by the distribution's packages). */
export const OS_USER = 'postgres';
/** Secret-store name of the admin role's password. */
export const ADMIN_SECRET = 'postgresql-admin';
/** The database the agent's admin sessions use unless they work inside another one. */
export const MAINTENANCE_DB = 'postgres';

export interface PgPaths {
  dataDir: string;
  configFile: string;
  hbaFile: string;
  identFile: string;
  /** Settings fixed at prepare (port, major version), read back by every later call. */
  settingsFile: string;
  /** unix_socket_directories: the admin connects here, never over TCP. */
  socketDir: string;
  /** The service backend's pid file (the server keeps its own postmaster.pid in the data directory). */
  servicePidFile: string;
  /** The server's stdout/stderr: everything logged before the logging collector takes over. */
  consoleLog: string;
  /** The logging collector's directory (the server writes and rotates files there itself). */
  serverLogDir: string;
  /** Exists once prepare has completed. */
  preparedMarker: string;
  /** Where this instance stands in its replica set (sdk/replication-state.ts). */
  replicationFile: string;
  /** The role's settings (standby, source, fence, synchronous standbys), included last by postgresql.conf. */
  replicationConf: string;
  /** The replication account's password for the server's own connections to its source (walreceiver, pg_rewind). */
  replicationPassFile: string;
  /** The replication account, the replicas this instance serves and the slots it made (replication-facts.ts). */
  replicationFactsFile: string;
}

export function pgPaths(ctx: Pick<ManagerContext, 'dataDir' | 'configDir' | 'runDir' | 'logDir'>): PgPaths {
  return {
    dataDir: ctx.dataDir,
    configFile: join(ctx.configDir, 'postgresql.conf'),
    hbaFile: join(ctx.configDir, 'pg_hba.conf'),
    identFile: join(ctx.configDir, 'pg_ident.conf'),
    settingsFile: join(ctx.configDir, 'instance.json'),
    socketDir: ctx.runDir,
    servicePidFile: join(ctx.runDir, 'postgresql.service.pid'),
    consoleLog: join(ctx.logDir, 'postgresql.console.log'),
    serverLogDir: join(ctx.logDir, 'postgresql'),
    preparedMarker: join(ctx.configDir, 'prepared'),
    replicationFile: join(ctx.configDir, 'replication.json'),
    replicationConf: join(ctx.configDir, 'replication.conf'),
    replicationPassFile: join(ctx.configDir, 'replication.pgpass'),
    replicationFactsFile: join(ctx.configDir, 'replication-pg.json'),
  };
}

export function serviceSpec(inst: Installation, paths: PgPaths): ServiceSpec {
  return {
    name: 'postgresql',
    command: bin(inst, 'postgres'),
    // Everything else (data directory included) is in the file: this command
    // line is what a restarted agent matches the running server by.
    args: ['-c', `config_file=${paths.configFile}`],
    user: OS_USER,
    pidFile: paths.servicePidFile,
    logFile: paths.consoleLog,
    // SIGINT is PostgreSQL's "fast" shutdown: open sessions are ended, then a
    // clean checkpoint. SIGTERM ("smart") would wait for every client to leave.
    stopSignal: 'SIGINT',
    stopTimeoutMs: 120_000,
  };
}
