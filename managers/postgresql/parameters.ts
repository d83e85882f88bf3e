// What a PostgreSQL configuration group may set, as data. Bounds are the
// server's own (PostgreSQL 15's guc.c) unless a tighter one keeps the instance
// startable or Steward's promises intact; `dynamic` is true exactly for the
// contexts a reload reaches (sighup, superuser, user, and superuser-backend for
// new sessions). Units are the server's own suffixes, so a value renders as
// `<value><unit>` and means the same to the server as to the operator.
//
// Never here: what replication owns (wal_level, hot_standby, archive_*,
// synchronous_standby_names, primary_conninfo, ...), paths, ports,
// listen_addresses and ssl: replication.conf and postgresql.conf render those
// from what the agent knows, and a group must not be able to undo them.
import { checkCatalog, type ParameterCatalog, type ParameterRule } from '../sdk/configuration.js';
import { type ConfValue, tuning } from './config.js';

const INT_MAX = 2147483647;

const int = (name: string, unit: string | undefined, min: number, max: number, dynamic: boolean, description: string): ParameterRule => ({
  name,
  type: 'integer',
  min,
  max,
  ...(unit ? { unit } : {}),
  dynamic,
  description,
});
const float = (name: string, unit: string | undefined, min: number, max: number, description: string): ParameterRule => ({
  name,
  type: 'float',
  min,
  max,
  ...(unit ? { unit } : {}),
  dynamic: true,
  description,
});
const bool = (name: string, description: string): ParameterRule => ({ name, type: 'boolean', dynamic: true, description });
const oneOf = (name: string, values: string[], description: string): ParameterRule => ({ name, type: 'enum', values, dynamic: true, description });

export const POSTGRESQL_PARAMETERS: readonly ParameterRule[] = [
  // Memory. shared_buffers and effective_cache_size count 8 kB pages inside the
  // server: whole MB are always whole pages, so what is set is what SHOW says.
  int('shared_buffers', 'MB', 16, 8388607, false, 'Memory for the shared page cache (Steward: a quarter of the instance memory)'),
  int('effective_cache_size', 'MB', 1, 16777215, true, "The planner's estimate of the cache available to one query (Steward: three quarters of memory)"),
  int('work_mem', 'kB', 64, INT_MAX, true, 'Memory per sort or hash operation before it spills to temporary files'),
  int('maintenance_work_mem', 'kB', 1024, INT_MAX, true, 'Memory for VACUUM, CREATE INDEX and ALTER TABLE ADD FOREIGN KEY'),
  int('temp_file_limit', 'kB', -1, INT_MAX, true, 'Temporary file space one session may use (-1: no limit)'),
  // Connections: above max_wal_senders (16) and the reserved superuser slots, which the server requires to start.
  int('max_connections', undefined, 20, 10000, false, "Concurrent client connections (a replica needs at least its primary's value)"),
  // WAL and checkpoints: the server refuses to start with less than two 16 MB segments.
  int('max_wal_size', 'MB', 32, INT_MAX, true, 'WAL size that triggers a checkpoint'),
  int('min_wal_size', 'MB', 32, INT_MAX, true, 'WAL kept for reuse instead of being removed at a checkpoint'),
  int('checkpoint_timeout', 's', 30, 86400, true, 'Longest time between automatic checkpoints'),
  float('checkpoint_completion_target', undefined, 0, 1, 'Fraction of the checkpoint interval over which a checkpoint spreads its writes'),
  oneOf('wal_compression', ['off', 'pglz', 'lz4', 'zstd'], 'Compression of full-page images written to WAL'),
  oneOf(
    'synchronous_commit',
    ['on', 'off', 'local', 'remote_write', 'remote_apply'],
    'How far a commit is made durable before it returns (off or local do not wait for synchronous replicas)',
  ),
  // Planner.
  float('random_page_cost', undefined, 0, 1000000, "The planner's cost of a non-sequential page read"),
  float('seq_page_cost', undefined, 0, 1000000, "The planner's cost of a sequential page read"),
  int('effective_io_concurrency', undefined, 0, 1000, true, 'Concurrent disk reads the server may issue for one session'),
  int('default_statistics_target', undefined, 1, 10000, true, 'Sample size ANALYZE uses for columns without their own target'),
  int('max_parallel_workers_per_gather', undefined, 0, 1024, true, 'Parallel workers one query node may use'),
  int('max_parallel_workers', undefined, 0, 1024, true, 'Parallel workers the whole server may run at once'),
  int('max_worker_processes', undefined, 0, 1024, false, "Background worker processes (a replica needs at least its primary's value)"),
  bool('jit', 'Just-in-time compilation of expensive queries'),
  // Timeouts (0: none).
  int('statement_timeout', 'ms', 0, INT_MAX, true, 'Longest time a statement may run before it is cancelled (0: no limit)'),
  int('lock_timeout', 'ms', 0, INT_MAX, true, 'Longest wait for a lock before the statement is cancelled (0: no limit)'),
  int('idle_in_transaction_session_timeout', 'ms', 0, INT_MAX, true, 'Ends sessions idle inside a transaction this long (0: never)'),
  int('idle_session_timeout', 'ms', 0, INT_MAX, true, 'Ends sessions idle outside a transaction this long (0: never)'),
  int('deadlock_timeout', 'ms', 1, INT_MAX, true, 'Wait on a lock before checking for a deadlock'),
  // Logging.
  int('log_min_duration_statement', 'ms', -1, INT_MAX, true, 'Logs statements running at least this long (-1: none, 0: all)'),
  oneOf('log_statement', ['none', 'ddl', 'mod', 'all'], 'Which statements are logged'),
  bool('log_connections', 'Logs each connection (new sessions)'),
  bool('log_disconnections', 'Logs the end of each session with its duration (new sessions)'),
  bool('log_lock_waits', 'Logs lock waits longer than deadlock_timeout'),
  int('log_temp_files', 'kB', -1, INT_MAX, true, 'Logs temporary files at least this large (-1: none, 0: all)'),
  int('log_autovacuum_min_duration', 'ms', -1, INT_MAX, true, 'Logs autovacuum runs at least this long (-1: none, 0: all)'),
  bool('track_io_timing', 'Times block reads and writes for statistics and EXPLAIN'),
  // Autovacuum.
  bool('autovacuum', 'Runs the autovacuum launcher (tables still get anti-wraparound vacuums when off)'),
  int('autovacuum_max_workers', undefined, 1, 1024, false, 'Autovacuum workers running at once'),
  int('autovacuum_naptime', 's', 1, 2147483, true, 'Time between autovacuum runs on one database'),
  int('autovacuum_vacuum_threshold', undefined, 0, INT_MAX, true, 'Updated or deleted rows before a table is vacuumed, on top of the scale factor'),
  int('autovacuum_analyze_threshold', undefined, 0, INT_MAX, true, 'Changed rows before a table is analyzed, on top of the scale factor'),
  float('autovacuum_vacuum_scale_factor', undefined, 0, 100, 'Fraction of a table updated or deleted before it is vacuumed'),
  float('autovacuum_vacuum_insert_scale_factor', undefined, 0, 100, 'Fraction of a table inserted before it is vacuumed'),
  float('autovacuum_analyze_scale_factor', undefined, 0, 100, 'Fraction of a table changed before it is analyzed'),
  float('autovacuum_vacuum_cost_delay', 'ms', -1, 100, 'Autovacuum sleep when its cost limit is reached (-1: vacuum_cost_delay)'),
  int('autovacuum_vacuum_cost_limit', undefined, -1, 10000, true, 'Autovacuum work between sleeps (-1: vacuum_cost_limit)'),
];

/**
 * What postgresql.conf leaves to the server for the parameters tuning() does
 * not set: PostgreSQL 15's built-in defaults, in the rules' units. The
 * datastore test checks them against a running server.
 */
const SERVER_DEFAULTS: Record<string, string> = {
  temp_file_limit: '-1',
  max_wal_size: '1024',
  min_wal_size: '80',
  checkpoint_timeout: '300',
  checkpoint_completion_target: '0.9',
  wal_compression: 'off',
  synchronous_commit: 'on',
  random_page_cost: '4',
  seq_page_cost: '1',
  effective_io_concurrency: '1',
  default_statistics_target: '100',
  max_parallel_workers_per_gather: '2',
  max_parallel_workers: '8',
  max_worker_processes: '8',
  jit: 'on',
  statement_timeout: '0',
  lock_timeout: '0',
  idle_in_transaction_session_timeout: '0',
  idle_session_timeout: '0',
  deadlock_timeout: '1000',
  log_min_duration_statement: '-1',
  log_statement: 'none',
  log_connections: 'off',
  log_disconnections: 'off',
  log_lock_waits: 'off',
  log_temp_files: '-1',
  log_autovacuum_min_duration: '600000',
  track_io_timing: 'off',
  autovacuum: 'on',
  autovacuum_max_workers: '3',
  autovacuum_naptime: '60',
  autovacuum_vacuum_threshold: '50',
  autovacuum_analyze_threshold: '50',
  autovacuum_vacuum_scale_factor: '0.2',
  autovacuum_vacuum_insert_scale_factor: '0.2',
  autovacuum_analyze_scale_factor: '0.1',
  autovacuum_vacuum_cost_delay: '2',
  autovacuum_vacuum_cost_limit: '-1',
};

/** Bytes per memory unit and milliseconds per time unit, as the server spells them (pg_settings.unit too). */
export const UNIT_FACTORS: Readonly<Record<string, number>> = {
  B: 1,
  kB: 1024,
  '8kB': 8192,
  MB: 1024 ** 2,
  GB: 1024 ** 3,
  TB: 1024 ** 4,
  us: 0.001,
  ms: 1,
  s: 1000,
  min: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** A tuning() value ('64MB', 100) in `unit`: the canonical string a checked value would be. */
function inUnit(name: string, value: ConfValue, unit: string | undefined): string {
  const m = /^(\d+)(kB|MB|GB)?$/.exec(String(value));
  const factor = unit ? UNIT_FACTORS[unit] : 1;
  const n = m ? (Number(m[1]) * (m[2] ? UNIT_FACTORS[m[2]] : 1)) / factor : Number.NaN;
  if (!Number.isInteger(n)) throw new Error(`tuning value ${name} = ${String(value)} is not a whole number of ${unit ?? 'units'}`);
  return String(n);
}

/** The most of an instance's memory shared_buffers may take. */
const SHARED_BUFFERS_SHARE = 0.75;

/**
 * Why a group's memory values do not fit `memoryMb`. shared_buffers is
 * allocated whole when the server starts: past three quarters of the memory,
 * the connections' own memory, the OS and the agent have too little left, and
 * the kernel's OOM killer, not the operator, chooses what goes. work_mem and
 * maintenance_work_mem are taken per operation: one operation allowed more
 * than the whole instance cannot be what was meant. effective_cache_size is
 * only the planner's estimate (nothing is allocated) and is never refused.
 */
function fits(values: Record<string, string>, memoryMb: number): string | undefined {
  const shared = values.shared_buffers;
  const sharedLimit = Math.floor(memoryMb * SHARED_BUFFERS_SHARE);
  if (shared !== undefined && Number(shared) > sharedLimit) {
    return `shared_buffers = ${shared}MB is more than ${SHARED_BUFFERS_SHARE * 100}% of ${memoryMb} MB (${sharedLimit}MB): the server allocates it whole at start and the rest would not fit`;
  }
  for (const name of ['work_mem', 'maintenance_work_mem']) {
    const kb = values[name];
    if (kb !== undefined && Number(kb) > memoryMb * 1024) {
      return `${name} = ${kb}kB is more than the instance's ${memoryMb} MB (${memoryMb * 1024}kB): one operation may use that much`;
    }
  }
  return undefined;
}

export const postgresqlParameters: ParameterCatalog = checkCatalog({
  rules: POSTGRESQL_PARAMETERS,
  defaults(memoryMb) {
    const tuned = tuning(memoryMb);
    const out: Record<string, string> = {};
    for (const r of POSTGRESQL_PARAMETERS) {
      out[r.name] = r.name in tuned ? inUnit(r.name, tuned[r.name], r.unit) : SERVER_DEFAULTS[r.name];
    }
    return out;
  },
  fits,
});

const RULES = new Map(POSTGRESQL_PARAMETERS.map((r) => [r.name, r]));

export const parameterRule = (name: string): ParameterRule | undefined => RULES.get(name);

/**
 * A checked, canonical value as postgresql.conf takes it: numbers with the
 * rule's unit, booleans as on/off. Canonical values hold no quote, line break
 * or comment character, and confValue refuses them all the same.
 */
export function renderedValue(rule: ParameterRule, value: string): ConfValue {
  switch (rule.type) {
    case 'boolean':
      return value === 'on';
    case 'integer':
    case 'float':
      return rule.unit ? `${value}${rule.unit}` : value;
    case 'enum':
      return value;
  }
}
