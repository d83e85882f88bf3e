// The redis.conf parameters configuration groups may set, as data (capability
// "configuration"), and what Steward renders for them without a group. Plain
// data with no server code, so the controller can check groups with it.
//
// Deliberately left out:
// - appendonly: a restore writes the backup as the base of the AOF (restore-aof.ts)
//   and the server loads it only with the AOF on; turning it off would also make
//   the next restart load the last RDB snapshot and lose what came after it;
// - replication (replicaof, masterauth, masteruser, min-replicas-*: the fence),
//   ACLs, paths, ports, bind, TLS, and the persistence layout (dir, dbfilename,
//   appenddirname, appendfilename): the manager owns them;
// - notify-keyspace-events and other free text: no free text reaches redis.conf;
// - maxclients: the server lowers it to what its file-descriptor limit allows, so
//   a rendered value would not be the one in force.
import { canonicalValue, checkCatalog, type ParameterCatalog, type ParameterRule } from '../sdk/configuration.js';

const MIB = 1024 * 1024;
/** Below this the server has no room for its own structures. */
const MIN_MAXMEMORY_MB = 16;

/**
 * RDB snapshot schedules ("seconds changes" pairs). A safe choice among a few
 * rather than free text; "off" takes no snapshots (the AOF, always on, keeps the
 * data; backups ask the server for a fresh snapshot of their own).
 */
export const SAVE_SCHEDULES = ['3600 1 300 100 60 10000', '900 1 300 10 60 10000', '3600 1 300 100', '3600 1', 'off'] as const;

const rules: ParameterRule[] = [
  {
    name: 'maxmemory',
    type: 'integer',
    min: MIN_MAXMEMORY_MB * MIB,
    max: 1024 * 1024 * MIB,
    unit: 'bytes',
    dynamic: true,
    description: "Memory for data before maxmemory-policy applies; keep it well below the instance's memory (forks and buffers need the rest)",
  },
  {
    name: 'maxmemory-policy',
    type: 'enum',
    values: ['noeviction', 'allkeys-lru', 'allkeys-lfu', 'allkeys-random', 'volatile-lru', 'volatile-lfu', 'volatile-random', 'volatile-ttl'],
    dynamic: true,
    description: 'What a write does once maxmemory is reached: fail (noeviction) or evict keys',
  },
  { name: 'maxmemory-samples', type: 'integer', min: 1, max: 64, dynamic: true, description: 'Keys sampled per eviction by the LRU, LFU and TTL policies' },
  { name: 'timeout', type: 'integer', min: 0, max: 604_800, unit: 's', dynamic: true, description: 'Close a client idle this long (0: never)' },
  { name: 'tcp-keepalive', type: 'integer', min: 0, max: 7_200, unit: 's', dynamic: true, description: 'TCP keepalive interval towards clients (0: off)' },
  {
    name: 'appendfsync',
    type: 'enum',
    values: ['always', 'everysec', 'no'],
    dynamic: true,
    description: 'When the AOF is fsynced: every write, once a second, or when the OS decides',
  },
  { name: 'save', type: 'enum', values: SAVE_SCHEDULES, dynamic: true, description: 'RDB snapshot schedule as "seconds changes" pairs, or off' },
  {
    name: 'slowlog-log-slower-than',
    type: 'integer',
    min: -1,
    max: 60_000_000,
    unit: 'us',
    dynamic: true,
    description: 'Commands slower than this enter the slow log (0: all, -1: none)',
  },
  { name: 'slowlog-max-len', type: 'integer', min: 0, max: 100_000, dynamic: true, description: 'Entries the slow log keeps' },
  {
    name: 'latency-monitor-threshold',
    type: 'integer',
    min: 0,
    max: 60_000,
    unit: 'ms',
    dynamic: true,
    description: 'Events slower than this are recorded by the latency monitor (0: off)',
  },
  { name: 'lazyfree-lazy-eviction', type: 'boolean', dynamic: true, description: 'Free evicted keys in a background thread' },
  { name: 'lazyfree-lazy-expire', type: 'boolean', dynamic: true, description: 'Free expired keys in a background thread' },
  {
    name: 'lazyfree-lazy-server-del',
    type: 'boolean',
    dynamic: true,
    description: 'Free keys the server deletes implicitly (RENAME, SET over a key) in a background thread',
  },
  { name: 'lazyfree-lazy-user-del', type: 'boolean', dynamic: true, description: 'Make DEL free in a background thread, like UNLINK' },
  {
    name: 'hz',
    type: 'integer',
    min: 1,
    max: 500,
    unit: 'Hz',
    dynamic: true,
    description: 'Background task frequency (expiry, timeouts): higher is more precise and costs CPU',
  },
  {
    name: 'databases',
    type: 'integer',
    min: 1,
    max: 1_024,
    dynamic: false,
    description: 'Number of numbered databases (SELECT); cannot go below one that holds keys',
  },
];

/** Memory-derived settings (also what a resize re-renders), in redis.conf's own words. */
export function tuning(memoryMb: number): Array<[string, string]> {
  // A quarter stays free for the process itself, client buffers and the
  // copy-on-write pages of the forks that write snapshots and rewrite the AOF.
  const maxMemoryMb = Math.max(MIN_MAXMEMORY_MB, Math.floor(memoryMb * 0.75));
  return [
    ['maxmemory', `${maxMemoryMb}mb`],
    // This is a database with persistence, not a cache: when full, writes fail
    // with an OOM error the application sees, rather than keys silently vanishing.
    ['maxmemory-policy', 'noeviction'],
  ];
}

/** What Steward renders whatever the memory: Redis 7's own defaults, except that `save` is said explicitly. */
const FIXED_DEFAULTS: Record<string, string> = {
  'maxmemory-samples': '5',
  timeout: '0',
  'tcp-keepalive': '300',
  // At most about a second of acknowledged writes at risk.
  appendfsync: 'everysec',
  save: '3600 1 300 100 60 10000',
  'slowlog-log-slower-than': '10000',
  'slowlog-max-len': '128',
  'latency-monitor-threshold': '0',
  'lazyfree-lazy-eviction': 'off',
  'lazyfree-lazy-expire': 'off',
  'lazyfree-lazy-server-del': 'off',
  'lazyfree-lazy-user-del': 'off',
  hz: '10',
  databases: '16',
};

/** "96mb" (redis.conf's mebibytes) as canonical bytes; other values as they are. */
function canonicalTuning(value: string): string {
  const mb = /^(\d+)mb$/.exec(value);
  return mb ? String(Number(mb[1]) * MIB) : value;
}

function defaults(memoryMb: number): Record<string, string> {
  return { ...FIXED_DEFAULTS, ...Object.fromEntries(tuning(memoryMb).map(([name, v]) => [name, canonicalTuning(v)])) };
}

/** Bytes as redis.conf's (and the instance size's) MB, one decimal when not exact. */
export const inMb = (bytes: bigint): string => `${Number((bytes * 10n) / BigInt(MIB)) / 10} MB`;

/**
 * A group's maxmemory must stay below the instance's memory. maxmemory bounds
 * the data alone: at or above the memory the kernel kills the server before
 * maxmemory-policy ever applies, whatever the workload. Between Steward's 75%
 * and the memory is a trade-off (the forks that write snapshots and rewrite the
 * AOF need copy-on-write room) the rule's description warns about and an
 * operator may make knowingly (snapshots off, few writes): not refused.
 */
function fits(values: Record<string, string>, memoryMb: number): string | undefined {
  const pinned = values.maxmemory;
  // Not an integer: the rule check refuses it, naming the field; nothing to compare here.
  if (pinned === undefined || !/^\d{1,19}$/.test(pinned)) return undefined;
  if (BigInt(pinned) < BigInt(memoryMb) * BigInt(MIB)) return undefined;
  const fallback = inMb(BigInt(defaults(memoryMb).maxmemory!));
  return (
    `maxmemory is ${pinned} bytes (${inMb(BigInt(pinned))}), not below the instance's ${memoryMb} MB: the data alone would fill the memory ` +
    `and the server be killed before maxmemory-policy applies (lower it, or leave it to Steward's default, ${fallback} at ${memoryMb} MB)`
  );
}

export const redisParameters: ParameterCatalog = checkCatalog({ rules, defaults, fits });

const BY_NAME = new Map(rules.map((r) => [r.name, r]));

/**
 * A value as the server takes it (CONFIG SET's argument): checked and made
 * canonical again here, whatever the caller did, then booleans as yes/no and
 * `save off` as the empty schedule.
 */
export function serverValue(name: string, value: string): string {
  const rule = BY_NAME.get(name);
  if (!rule) throw new Error(`${name} is not a Redis configuration group parameter`);
  const v = canonicalValue(rule, value, `configuration.${name}`);
  if (rule.type === 'boolean') return v === 'on' ? 'yes' : 'no';
  if (name === 'save' && v === 'off') return '';
  return v;
}

/** The arguments of the redis.conf line for a checked value: a snapshot schedule is one argument per number, memory in mebibytes when exact. */
export function confArguments(name: string, value: string): string[] {
  const v = serverValue(name, value);
  if (name === 'save') return v === '' ? [''] : v.split(' ');
  if (name === 'maxmemory' && BigInt(v) % BigInt(MIB) === 0n) return [`${BigInt(v) / BigInt(MIB)}mb`];
  return [v];
}
