// Where this manager keeps things, all derived from the context so that a
// restarted agent finds the same files.
import { access, constants } from 'node:fs/promises';
import { join } from 'node:path';
import type { ManagerContext } from '../sdk/contract.js';
import { failedPrecondition } from '../sdk/errors.js';
import type { ServiceSpec } from '../sdk/service-control.js';

/** The OS account the server runs as (created by the distribution's package). */
export const OS_USER = 'redis';
/** Secret-store name of the admin account's password. */
export const ADMIN_SECRET = 'redis-admin';
/** Secret-store name of the replication account a replica follows its source with (JSON: user, password). */
export const REPLICATION_SECRET = 'redis-replication';
/** The distribution's systemd unit (used with the systemd service backend). */
export const SYSTEMD_UNIT = 'redis-server';

export interface RedisPaths {
  /** Holds the replication password on a replica: 0600, owned by the server's OS user. */
  configFile: string;
  /** What redis.conf was rendered from, so a role change renders it again (replication-config.ts). */
  settingsFile: string;
  /** The instance's place in its replica set (sdk/replication-state.ts). */
  replicationFile: string;
  /** Owned by the server: ACL SAVE writes a temporary file next to the ACL file and renames it. */
  aclDir: string;
  aclFile: string;
  socket: string;
  /** The service backend's pid file (the server writes none of its own: it is not daemonized). */
  servicePidFile: string;
  /** The server's own log (`logfile`). */
  logFile: string;
  /** stdout/stderr of the server process: where config errors go before `logfile` takes over. */
  consoleLog: string;
  /** Exists once prepare has completed. */
  preparedMarker: string;
}

export function redisPaths(ctx: Pick<ManagerContext, 'configDir' | 'runDir' | 'logDir'>): RedisPaths {
  const aclDir = join(ctx.configDir, 'acl');
  return {
    configFile: join(ctx.configDir, 'redis.conf'),
    settingsFile: join(ctx.configDir, 'server-settings.json'),
    replicationFile: join(ctx.configDir, 'replication.json'),
    aclDir,
    aclFile: join(aclDir, 'users.acl'),
    socket: join(ctx.runDir, 'redis.sock'),
    servicePidFile: join(ctx.runDir, 'redis-server.service.pid'),
    logFile: join(ctx.logDir, 'redis.log'),
    consoleLog: join(ctx.logDir, 'redis.console.log'),
    preparedMarker: join(ctx.configDir, 'prepared'),
  };
}

const SEARCH_DIRS = ['/usr/bin', '/usr/local/bin', '/usr/sbin', '/usr/local/sbin', '/opt/redis/bin'];

let found: Promise<string> | undefined;

/**
 * The server binary (cached: packages do not change under a running agent). The
 * path is used as found, never resolved: Debian's redis-server is a symlink to
 * redis-check-rdb, and the server picks its mode from the name it is run by.
 */
export function findRedisServer(): Promise<string> {
  found ??= (async () => {
    for (const dir of SEARCH_DIRS) {
      const path = join(dir, 'redis-server');
      if (
        await access(path, constants.X_OK).then(
          () => true,
          () => false,
        )
      )
        return path;
    }
    throw failedPrecondition(`redis-server is not installed (looked in ${SEARCH_DIRS.join(', ')})`);
  })().catch((err) => {
    found = undefined; // let a later call retry once the host is fixed
    throw err;
  });
  return found;
}

export function serviceSpec(server: string, paths: RedisPaths): ServiceSpec {
  return {
    name: SYSTEMD_UNIT,
    command: server,
    // The config file is the only argument: with set-proc-title off, this is
    // the exact command line the process backend recognises the server by.
    args: [paths.configFile],
    user: OS_USER,
    pidFile: paths.servicePidFile,
    logFile: paths.consoleLog,
    // SIGTERM is Redis's clean shutdown: it fsyncs the AOF and writes a final RDB snapshot before exiting.
    stopSignal: 'SIGTERM',
    stopTimeoutMs: 180_000,
  };
}
