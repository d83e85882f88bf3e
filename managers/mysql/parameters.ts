// What a configuration group may set on a MySQL/MariaDB instance, as data. The
// controller and the agent check a group against these rules; the manager
// renders the checked values into my.cnf (overriding Steward's defaults) and
// sets the dynamic ones with SET GLOBAL.
//
// One rule set serves both flavours, so each rule is the stricter of the two
// where they differ: bounds both servers accept, and "dynamic" only where both
// take the value at once (innodb_log_file_size is dynamic on MariaDB since
// 10.9 but not on MySQL 8, so it waits for a restart). Free text (sql_mode,
// init_connect, paths, ports) and what replication owns (server_id, log_bin,
// read_only, gtid_*, semi-sync) are deliberately absent.
import { canonicalValue, checkCatalog, checkParameters, type ParameterCatalog, type ParameterRule } from '../sdk/configuration.js';
import { FIXED_SETTINGS, tuning } from './config.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
/** A year: the longest timeout either server accepts. */
const YEAR_S = 31_536_000;

const int = (name: string, min: number, max: number, unit: string, dynamic: boolean, description: string): ParameterRule => ({
  name,
  type: 'integer',
  min,
  max,
  unit,
  dynamic,
  description,
});
const bool = (name: string, dynamic: boolean, description: string): ParameterRule => ({ name, type: 'boolean', dynamic, description });

export const ISOLATION_LEVELS = ['READ-UNCOMMITTED', 'READ-COMMITTED', 'REPEATABLE-READ', 'SERIALIZABLE'] as const;

const RULES: readonly ParameterRule[] = [
  // Memory.
  int('innodb_buffer_pool_size', 32 * MiB, 1024 * GiB, 'bytes', true, "InnoDB's cache of data and indexes; the server rounds it to its chunk size"),
  int('innodb_log_file_size', 4 * MiB, 512 * GiB, 'bytes', false, 'Size of the InnoDB redo log (a multiple of 4096)'),
  int('tmp_table_size', KiB, 64 * GiB, 'bytes', true, 'Largest in-memory temporary table before it goes to disk'),
  int('max_heap_table_size', 16 * KiB, 64 * GiB, 'bytes', true, 'Largest MEMORY table a user may create (a multiple of 1024)'),
  int('sort_buffer_size', 32 * KiB, 4 * GiB - 1, 'bytes', true, 'Buffer each sort allocates'),
  int('join_buffer_size', 128, 4 * GiB - 1, 'bytes', true, 'Buffer each join without an index allocates (a multiple of 128)'),
  int('binlog_cache_size', 4 * KiB, 4 * GiB - 1, 'bytes', true, "Per-connection cache of a transaction's binary log (a multiple of 4096)"),
  int('max_allowed_packet', 16 * KiB, GiB, 'bytes', true, 'Largest packet or row a client may send (a multiple of 1024)'),
  // Connections and caches.
  int('max_connections', 10, 100_000, 'connections', true, 'Most client connections at once'),
  int('thread_cache_size', 0, 16_384, 'threads', true, 'Threads kept for reuse by new connections'),
  int('table_open_cache', 10, 524_288, 'tables', true, 'Open tables cached for all connections'),
  // Timeouts.
  int('wait_timeout', 1, YEAR_S, 's', true, 'Idle seconds before the server closes a non-interactive connection (new connections)'),
  int('interactive_timeout', 1, YEAR_S, 's', true, 'Idle seconds before the server closes an interactive connection (new connections)'),
  int('connect_timeout', 2, YEAR_S, 's', true, 'Seconds the server waits for a connecting client to finish its handshake'),
  int('lock_wait_timeout', 1, YEAR_S, 's', true, 'Seconds a statement waits for a metadata lock'),
  int('innodb_lock_wait_timeout', 1, 100_000_000, 's', true, 'Seconds a transaction waits for an InnoDB row lock'),
  // Durability and I/O.
  int('innodb_flush_log_at_trx_commit', 0, 2, 'mode', true, 'Redo log at commit: 1 writes and syncs (durable), 2 writes only, 0 neither (up to a second lost)'),
  // Capped well below the servers' limits: twice it must fit innodb_io_capacity_max (see manager.ts).
  int('innodb_io_capacity', 100, 1_000_000, 'IOPS', true, 'I/O operations per second InnoDB background work may use'),
  int('sync_binlog', 0, 4_294_967_295, 'commits', true, 'Sync the binary log every N commits (0: leave it to the OS); matters only while the binary log is on'),
  // MariaDB's limit (99 days); MySQL 8 would take more.
  int('binlog_expire_logs_seconds', 0, 8_553_600, 's', true, 'Seconds binary logs are kept (0: forever); matters only while the binary log is on'),
  // Logging.
  bool('slow_query_log', true, 'Log statements slower than long_query_time'),
  { name: 'long_query_time', type: 'float', min: 0, max: YEAR_S, unit: 's', dynamic: true, description: 'Seconds after which a statement counts as slow' },
  bool('log_queries_not_using_indexes', true, 'Also log statements that use no index to the slow log'),
  bool('general_log', true, 'Log every statement (heavy: for short investigations)'),
  bool('performance_schema', false, 'Performance Schema instrumentation (costs memory)'),
  // Behaviour.
  {
    name: 'character_set_server',
    type: 'enum',
    values: ['utf8mb4', 'utf8mb3', 'latin1', 'ascii', 'binary'],
    dynamic: true,
    description: 'Character set of databases created without one (existing databases keep theirs)',
  },
  {
    name: 'transaction_isolation',
    type: 'enum',
    values: ISOLATION_LEVELS,
    dynamic: true,
    description: 'Default transaction isolation level of new connections',
  },
];

/** The server's own defaults, rendered explicitly so that Steward's default is the same on either flavour. */
const SERVER_DEFAULTS: Record<string, string | number> = {
  sort_buffer_size: 2 * MiB,
  join_buffer_size: 256 * KiB,
  binlog_cache_size: 32 * KiB,
  max_allowed_packet: 16 * MiB,
  wait_timeout: 28_800,
  interactive_timeout: 28_800,
  connect_timeout: 10,
  lock_wait_timeout: 86_400,
  innodb_lock_wait_timeout: 50,
  innodb_flush_log_at_trx_commit: 1,
  innodb_io_capacity: 200,
  slow_query_log: 'OFF',
  long_query_time: 10,
  log_queries_not_using_indexes: 'OFF',
  general_log: 'OFF',
  transaction_isolation: 'REPEATABLE-READ',
};

/** "128M" (how tuning() writes sizes) in bytes; anything else as it is. */
function plain(v: string | number): string {
  const m = /^([0-9]+)M$/.exec(String(v));
  return m ? String(Number(m[1]) * MiB) : String(v);
}

function defaults(memoryMb: number): Record<string, string> {
  const from: Record<string, string | number> = { ...SERVER_DEFAULTS, ...FIXED_SETTINGS, ...tuning(memoryMb) };
  const out: Record<string, string> = {};
  for (const r of RULES) {
    const v = from[r.name];
    if (v === undefined) throw new Error(`mysql parameter ${r.name} has no default`);
    out[r.name] = canonicalValue(r, plain(v), r.name);
  }
  return out;
}

/**
 * The largest share of the instance's memory a group's value may take, and why.
 * The buffer pool is reserved whole at start: 80% is the most MariaDB's and
 * MySQL's guides give it on a dedicated host, the rest being for connections,
 * the server's own caches and the OS (Steward's default is half). The others
 * are single allocations (a temporary or MEMORY table, a buffer of one
 * connection): one that takes more than a quarter leaves a server with a
 * couple of them busy, next to the buffer pool, out of memory. Values are
 * canonical bytes (checked by the rules), so Number() is exact.
 */
const MEMORY_LIMITS: ReadonlyArray<readonly [name: string, share: number, what: string]> = [
  ['innodb_buffer_pool_size', 0.8, 'the buffer pool is reserved whole at start and must leave room for connections and the OS'],
  ['tmp_table_size', 0.25, 'one in-memory temporary table may grow that big'],
  ['max_heap_table_size', 0.25, 'one MEMORY table may grow that big'],
  ['max_allowed_packet', 0.25, 'one connection may buffer a packet that big'],
  ['sort_buffer_size', 0.25, 'every sort allocates it'],
  ['join_buffer_size', 0.25, 'every join without an index allocates it'],
  ['binlog_cache_size', 0.25, 'every connection that writes allocates it'],
];

/** The first of the group's values that would not fit an instance of `memoryMb`, with the limit it passes. */
function fits(values: Record<string, string>, memoryMb: number): string | undefined {
  for (const [name, share, what] of MEMORY_LIMITS) {
    const raw = values[name];
    if (raw === undefined) continue;
    const limit = Math.floor(memoryMb * MiB * share);
    if (Number(raw) > limit) return `${name} = ${raw} bytes is more than ${share * 100}% of ${memoryMb} MB (${limit} bytes): ${what}`;
  }
  return undefined;
}

export const mysqlParameters: ParameterCatalog = checkCatalog({ rules: RULES, defaults, fits });

export const ruleOf = (name: string): ParameterRule | undefined => RULES.find((r) => r.name === name);

/** A canonical value as the server reads it in my.cnf or SET GLOBAL: booleans ON/OFF, the rest as they are. */
export function serverValue(rule: ParameterRule, canonical: string): string {
  if (rule.type === 'boolean') return canonical === 'on' ? 'ON' : 'OFF';
  return canonical;
}

/**
 * The group's values checked again (the state file is only a file), made
 * canonical and laid over Steward's defaults for `memoryMb`: every parameter
 * of the catalog, as my.cnf entries.
 */
export function parameterEntries(memoryMb: number, group: Record<string, string>): Record<string, string> {
  const values = { ...defaults(memoryMb), ...checkParameters(RULES, group, 'configuration') };
  const out: Record<string, string> = {};
  for (const r of RULES) out[r.name] = serverValue(r, values[r.name]!);
  return out;
}
