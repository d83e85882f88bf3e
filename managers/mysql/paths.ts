// Where this manager keeps things, all derived from the context so that a
// restarted agent finds the same files.
import { join } from 'node:path';
import type { ManagerContext } from '../sdk/contract.js';
import type { ServiceSpec } from '../sdk/service-control.js';
import type { Flavour } from './flavour.js';

/** The OS account the server runs as (created by the distribution's packages). */
export const OS_USER = 'mysql';
/** Secret-store name of the admin account's password. */
export const ADMIN_SECRET = 'mysql-admin';

export interface MysqlPaths {
  configFile: string;
  socket: string;
  /** The server's own pid file. */
  serverPidFile: string;
  /** The service backend's pid file (separate: the server deletes its own on shutdown). */
  servicePidFile: string;
  errorLog: string;
  /** The slow query and general logs (sdk guest logs), beside the error log. */
  slowLog: string;
  generalLog: string;
  /** stdout/stderr of the server process. */
  consoleLog: string;
  /** Exists once prepare has completed. */
  preparedMarker: string;
  /** The settings my.cnf was rendered from, so a role change can render it again. */
  settingsFile: string;
  /** Where this instance stands in its replica set (sdk/replication-state.ts). */
  replicationFile: string;
}

export function mysqlPaths(ctx: Pick<ManagerContext, 'configDir' | 'runDir' | 'logDir'>): MysqlPaths {
  return {
    configFile: join(ctx.configDir, 'my.cnf'),
    socket: join(ctx.runDir, 'mysqld.sock'),
    serverPidFile: join(ctx.runDir, 'mysqld.pid'),
    servicePidFile: join(ctx.runDir, 'mysqld.service.pid'),
    errorLog: join(ctx.logDir, 'mysqld.err'),
    slowLog: join(ctx.logDir, 'mysqld-slow.log'),
    generalLog: join(ctx.logDir, 'mysqld-general.log'),
    consoleLog: join(ctx.logDir, 'mysqld.console.log'),
    preparedMarker: join(ctx.configDir, 'prepared'),
    settingsFile: join(ctx.configDir, 'server-settings.json'),
    replicationFile: join(ctx.configDir, 'replication.json'),
  };
}

export function serviceSpec(flavour: Flavour, paths: MysqlPaths): ServiceSpec {
  return {
    name: flavour.unit,
    command: flavour.server,
    args: [`--defaults-file=${paths.configFile}`],
    user: OS_USER,
    pidFile: paths.servicePidFile,
    logFile: paths.consoleLog,
    stopSignal: 'SIGTERM', // clean shutdown: InnoDB flushes before exiting
    stopTimeoutMs: 120_000,
  };
}
