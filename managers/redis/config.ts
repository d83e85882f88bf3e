// redis.conf and the initial ACL file for one instance. Everything the server
// touches lives under the instance's own directories, so several instances can
// share a host (tests, the local provisioner) and nothing depends on /etc/redis.
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { checkParameters } from '../sdk/configuration.js';
import { confArguments, redisParameters } from './parameters.js';
import { ADMIN_USER, DEFAULT_USER } from './validation.js';

export { tuning } from './parameters.js';

/**
 * Where the multi-part AOF lives (directory under the data directory, and the
 * prefix of its files). Rendered explicitly rather than left to the defaults:
 * a restore writes a backup into this layout (restore-aof.ts), so the names it
 * writes and the names the server reads must be the same ones.
 */
export const AOF_DIR = 'appendonlydir';
export const AOF_FILE = 'appendonly.aof';

export interface ServerSettings {
  bindAddress: string;
  port: number;
  socket: string;
  dataDir: string;
  logFile: string;
  aclFile: string;
  memoryMb: number;
}

/**
 * A fenced server refuses every write with NOREPLICAS: it asks for more
 * replicas (within min-replicas-max-lag seconds) than it can ever have. Redis
 * has no read-only switch for a primary; this one refuses at once, on every
 * connection old or new, scripts and transactions included, and leaves the
 * replication stream alone (the replicas still catch up with the fenced
 * primary). CLIENT PAUSE WRITE would hold the writes instead: clients would
 * hang, then write to the deposed primary once the pause ends.
 */
export const FENCED_MIN_REPLICAS = 2_147_483_647;
export const FENCED_MAX_LAG_S = 10;

/** What a replica set adds to redis.conf, so a restarted server keeps its role and its fence. */
export interface ReplicationSettings {
  /** Follow this source (a replica); absent on a primary or a standalone instance. */
  follow?: { host: string; port: number; user: string; password: string };
  fenced: boolean;
}

const NOT_REPLICATED: ReplicationSettings = { fenced: false };

/** Config values go unquoted when they can, in double quotes otherwise; a line break could start a new directive. */
export function confValue(value: string | number): string {
  const text = String(value);
  if (/[\r\n\0]/.test(text)) throw new Error(`redis.conf value contains a line break or NUL: ${JSON.stringify(text)}`);
  if (/^[A-Za-z0-9_\-./:@+,=]+$/.test(text)) return text;
  return `"${text.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

type Directive = [string, ...Array<string | number>];

/**
 * The parameters a configuration group may set, each once: the group's
 * (checked again here, so only canonical values reach the file) or Steward's
 * default for the instance's memory.
 */
function parameterDirectives(memoryMb: number, group: Record<string, string>): Directive[] {
  const values = { ...redisParameters.defaults(memoryMb), ...checkParameters(redisParameters.rules, group, 'configuration') };
  return redisParameters.rules.map((r): Directive => [r.name, ...confArguments(r.name, values[r.name]!)]);
}

/** Outgoing connections from the instance's own address: a source then lists its replicas by the address they serve on. */
function sourceAddress(bindAddress: string): Directive[] {
  const wildcard = ['0.0.0.0', '::', '*'].includes(bindAddress);
  return isIP(bindAddress) && !wildcard ? [['bind-source-addr', bindAddress]] : [];
}

function replicationDirectives(r: ReplicationSettings): Directive[] {
  const follow: Directive[] = r.follow
    ? [
        ['replicaof', r.follow.host, r.follow.port],
        ['masteruser', r.follow.user],
        // Why this file is 0600 and owned by the server's user (replication-config.ts).
        ['masterauth', r.follow.password],
      ]
    : [];
  const fence: Directive[] = r.fenced
    ? [
        ['min-replicas-to-write', FENCED_MIN_REPLICAS],
        ['min-replicas-max-lag', FENCED_MAX_LAG_S],
      ]
    : [];
  return [['replica-read-only', 'yes'], ...follow, ...fence];
}

/** `group` is the configuration group's values (configuration-state.ts); absent ones are Steward's defaults. */
export function renderRedisConf(s: ServerSettings, replication: ReplicationSettings = NOT_REPLICATED, group: Record<string, string> = {}): string {
  const directives: Directive[] = [
    ['bind', s.bindAddress],
    ['port', s.port],
    ['protected-mode', 'yes'],
    // The agent's own way in; only the server's user (and root, i.e. the agent) may connect.
    ['unixsocket', s.socket],
    ['unixsocketperm', 700],
    ['dir', s.dataDir],
    // The service backend supervises the foreground process and owns the pid file.
    ['daemonize', 'no'],
    ['supervised', 'no'],
    // The process backend adopts a running server by its exact command line; a rewritten title would hide it.
    ['set-proc-title', 'no'],
    ['logfile', s.logFile],
    ['loglevel', 'notice'],
    ['always-show-logo', 'no'],
    // Users, passwords and permissions live here and survive restarts through ACL SAVE.
    ['aclfile', s.aclFile],
    // Snapshots (`save`, a parameter below) make restarts fast; the AOF keeps the writes.
    ['stop-writes-on-bgsave-error', 'yes'],
    // A stop must not hang on a final snapshot that cannot be written (disk full):
    // the AOF, flushed on the way out either way, is what the next start loads.
    ['shutdown-on-sigterm', 'force'],
    ['dbfilename', 'dump.rdb'],
    ['appendonly', 'yes'],
    ['appenddirname', AOF_DIR],
    ['appendfilename', AOF_FILE],
    ['aof-use-rdb-preamble', 'yes'],
    // Closed even to the default user once root is enabled: each would let a client
    // run code or write files as the server's OS user (MODULE LOAD, CONFIG SET dir).
    ['enable-debug-command', 'no'],
    ['enable-module-command', 'no'],
    ['enable-protected-configs', 'no'],
    // Users are denied channels unless their rule names them.
    ['acl-pubsub-default', 'resetchannels'],
    ...parameterDirectives(s.memoryMb, group),
    ...sourceAddress(s.bindAddress),
    ...replicationDirectives(replication),
  ];
  const header = ['# Rendered by the Steward agent; local edits are overwritten.', '# Change settings through configuration groups.'];
  return `${[...header, ...directives.map(([key, ...values]) => [key, ...values.map(confValue)].join(' '))].join('\n')}\n`;
}

/**
 * The ACL file the server first starts with: the default user off (no client
 * gets in without a password until root is enabled) and the agent's admin
 * account, stored as a SHA-256 hash, never the password itself.
 */
export function renderInitialAcl(adminPassword: string): string {
  const hash = createHash('sha256').update(adminPassword).digest('hex');
  return [`user ${DEFAULT_USER} reset off`, `user ${ADMIN_USER} reset on #${hash} ~* &* +@all`, ''].join('\n');
}
