// Where this manager keeps things, all derived from the context (and the
// options' confDir) so that a restarted agent finds the same files.
import { join } from 'node:path';
import type { ManagerContext } from '../sdk/contract.js';

/** The OS account the server runs as (Cassandra's packages create it; so does the test fixture). */
export const OS_USER = 'cassandra';
/** The systemd unit of Cassandra's packages. */
export const UNIT = 'cassandra';
/** Secret-store names of the admin role's name and password. */
export const ADMIN_USER_SECRET = 'cassandra-admin-user';
export const ADMIN_PASSWORD_SECRET = 'cassandra-admin';

export interface CassandraPaths {
  /** Rendered server configuration (cassandra.yaml, cassandra-rackdc.properties, logback). */
  confDir: string;
  yaml: string;
  rackdc: string;
  logback: string;
  toolsLogback: string;
  /** The node's settings as prepared (and changed by set_seeds): what the config files are rendered from. */
  settings: string;
  /** Exists once prepare has completed. */
  preparedMarker: string;
  /** Exists once the node has left the ring: it is never started again. */
  decommissionedMarker: string;
  /** Exists once this node has seen the admin role log in: the default superuser is never tried again. */
  securedMarker: string;
  dataFiles: string;
  commitlog: string;
  hints: string;
  savedCaches: string;
  cdcRaw: string;
  /** The server's own log directory (system.log, rolled by logback). */
  serverLogDir: string;
  systemLog: string;
  /** stdout/stderr of the server process (warnings and start-up failures). */
  consoleLog: string;
  /** The service backend's pid file. */
  servicePidFile: string;
  /** nodetool's home (it keeps a command history there). */
  toolHome: string;
  /** A restore's unpacked snapshot, beside the data files: `nodetool import` moves files, which needs one file system. */
  restoreFiles: string;
}

export function cassandraPaths(ctx: Pick<ManagerContext, 'configDir' | 'dataDir' | 'runDir' | 'logDir'>, confDir: string = ctx.configDir): CassandraPaths {
  const serverLogDir = join(ctx.logDir, 'cassandra');
  return {
    confDir,
    yaml: join(confDir, 'cassandra.yaml'),
    rackdc: join(confDir, 'cassandra-rackdc.properties'),
    logback: join(confDir, 'logback.xml'),
    toolsLogback: join(confDir, 'logback-tools.xml'),
    settings: join(ctx.configDir, 'node.json'),
    preparedMarker: join(ctx.configDir, 'prepared'),
    decommissionedMarker: join(ctx.configDir, 'decommissioned'),
    securedMarker: join(ctx.configDir, 'secured'),
    dataFiles: join(ctx.dataDir, 'data'),
    commitlog: join(ctx.dataDir, 'commitlog'),
    hints: join(ctx.dataDir, 'hints'),
    savedCaches: join(ctx.dataDir, 'saved_caches'),
    cdcRaw: join(ctx.dataDir, 'cdc_raw'),
    serverLogDir,
    systemLog: join(serverLogDir, 'system.log'),
    consoleLog: join(ctx.logDir, 'cassandra.console.log'),
    servicePidFile: join(ctx.runDir, 'cassandra.service.pid'),
    toolHome: join(ctx.runDir, 'nodetool'),
    restoreFiles: join(ctx.dataDir, 'restore'),
  };
}
