// What a Cassandra configuration group may set, as data: cassandra.yaml's
// 5.0 names (units in the value, e.g. `compaction_throughput: 64MiB/s`), each
// value an integer in the rule's unit or on/off. Steward renders every one of
// them into cassandra.yaml, the group's value or the default here, so the
// defaults are exactly what a node without a group runs with: Cassandra's own
// defaults, and the memory-derived sizes of config.ts.
//
// "dynamic" means Steward hands the running node the value itself, through a
// nodetool command (LIVE_COMMANDS); a setting the server only changes over a
// JMX attribute nodetool has no command for is read at start-up, like any
// other, and waits for a restart.
import { type ParameterCatalog, type ParameterRule, checkCatalog, checkParameters } from '../sdk/configuration.js';
import { cacheSizesMb, heapMb, tuning } from './config.js';

const MINUTE_MS = 60_000;
/** Cassandra raises any request timeout below 10 ms to 10 ms (DatabaseDescriptor.LOWEST_ACCEPTED_TIMEOUT). */
const LOWEST_TIMEOUT_MS = 10;

const timeout = (name: string, what: string): ParameterRule => ({
  name,
  type: 'integer',
  min: LOWEST_TIMEOUT_MS,
  max: 10 * MINUTE_MS,
  unit: 'ms',
  dynamic: true,
  description: `How long the coordinator waits for ${what} before it answers with a timeout.`,
});

const RULES: readonly ParameterRule[] = [
  {
    name: 'compaction_throughput',
    type: 'integer',
    min: 0,
    max: 10_240,
    unit: 'MiB/s',
    dynamic: true,
    description: 'Throttles compaction on this node to this total rate; 0 turns the throttle off.',
  },
  {
    name: 'stream_throughput_outbound',
    type: 'integer',
    min: 0,
    max: 10_240,
    unit: 'MiB/s',
    dynamic: true,
    description: 'Throttles streaming out of this node (bootstrap, repair, decommission); 0 turns the throttle off.',
  },
  {
    name: 'concurrent_compactors',
    type: 'integer',
    min: 1,
    max: 64,
    dynamic: true,
    description: 'How many compactions may run at once on this node.',
  },
  timeout('read_request_timeout', 'a read'),
  timeout('range_request_timeout', 'a range scan'),
  timeout('write_request_timeout', 'a write'),
  timeout('counter_write_request_timeout', 'a counter write'),
  timeout('request_timeout', 'any other request'),
  {
    name: 'concurrent_reads',
    type: 'integer',
    min: 2,
    max: 1024,
    dynamic: false,
    description: 'Threads serving reads (each holds buffers on the heap).',
  },
  {
    name: 'concurrent_writes',
    type: 'integer',
    min: 2,
    max: 1024,
    dynamic: false,
    description: 'Threads applying writes.',
  },
  {
    name: 'concurrent_counter_writes',
    type: 'integer',
    min: 2,
    max: 1024,
    dynamic: false,
    description: 'Threads applying counter writes (each reads before it writes).',
  },
  {
    name: 'key_cache_size',
    type: 'integer',
    min: 0,
    max: 4096,
    unit: 'MiB',
    dynamic: false,
    description: 'Heap given to the partition key cache; 0 turns it off.',
  },
  {
    name: 'counter_cache_size',
    type: 'integer',
    min: 0,
    max: 2048,
    unit: 'MiB',
    dynamic: false,
    description: 'Heap given to the counter cache; 0 turns it off.',
  },
  {
    name: 'batch_size_warn_threshold',
    type: 'integer',
    min: 1,
    max: 16_384,
    unit: 'KiB',
    dynamic: false,
    description: 'A batch larger than this is logged with a warning.',
  },
  {
    name: 'batch_size_fail_threshold',
    type: 'integer',
    min: 1,
    max: 16_384,
    unit: 'KiB',
    dynamic: false,
    description: 'A batch larger than this is refused.',
  },
  {
    name: 'tombstone_warn_threshold',
    type: 'integer',
    min: 1,
    max: 10_000_000,
    dynamic: false,
    description: 'A query scanning more tombstones than this is logged with a warning.',
  },
  {
    name: 'tombstone_failure_threshold',
    type: 'integer',
    min: 1,
    max: 100_000_000,
    dynamic: false,
    description: 'A query scanning more tombstones than this is aborted.',
  },
  {
    name: 'gc_warn_threshold',
    type: 'integer',
    min: 0,
    max: 10 * MINUTE_MS,
    unit: 'ms',
    dynamic: false,
    description: 'A GC pause longer than this is logged as a warning; 0 turns the warning off.',
  },
  {
    name: 'hinted_handoff_enabled',
    type: 'boolean',
    dynamic: true,
    description: 'Whether this node keeps hints for replicas that are down and replays them when they return.',
  },
  {
    name: 'max_hint_window',
    type: 'integer',
    min: 0,
    max: 7 * 24 * 60 * MINUTE_MS,
    unit: 'ms',
    dynamic: true,
    description: 'How long a replica may be down before this node stops keeping hints for it.',
  },
  {
    name: 'auto_snapshot',
    type: 'boolean',
    dynamic: false,
    description: 'Whether TRUNCATE and DROP take a snapshot of the data first.',
  },
];

/** Cassandra's own defaults (Config.java of 5.0), for what Steward does not size from memory. */
const FIXED_DEFAULTS: Readonly<Record<string, string>> = {
  compaction_throughput: '64',
  stream_throughput_outbound: '24',
  read_request_timeout: '5000',
  range_request_timeout: '10000',
  write_request_timeout: '2000',
  counter_write_request_timeout: '5000',
  request_timeout: '10000',
  batch_size_warn_threshold: '5',
  batch_size_fail_threshold: '50',
  tombstone_warn_threshold: '1000',
  tombstone_failure_threshold: '100000',
  gc_warn_threshold: '1000',
  hinted_handoff_enabled: 'on',
  max_hint_window: String(3 * 60 * MINUTE_MS),
  auto_snapshot: 'on',
};

function defaults(memoryMb: number): Record<string, string> {
  const t = tuning(memoryMb);
  const caches = cacheSizesMb(memoryMb);
  return {
    ...FIXED_DEFAULTS,
    concurrent_compactors: String(t.concurrent_compactors),
    concurrent_reads: String(t.concurrent_reads),
    concurrent_writes: String(t.concurrent_writes),
    concurrent_counter_writes: String(t.concurrent_counter_writes),
    key_cache_size: String(caches.key_cache_size),
    counter_cache_size: String(caches.counter_cache_size),
  };
}

/** The caches a group may size on the heap. */
const HEAP_CACHES = ['key_cache_size', 'counter_cache_size'] as const;

/**
 * The key and counter caches live on the heap beside the memtables (a quarter
 * of it by default), the request threads' buffers and compaction: together
 * they may take at most a quarter of the heap an instance of `memoryMb` gets
 * (heapMb), so that a smaller size never starts a node whose caches crowd out
 * the rest. Steward's own cache sizes (5% and 2.5% of the heap) always fit.
 */
export function cacheLimitMb(memoryMb: number): number {
  return Math.floor(heapMb(memoryMb) / 4);
}

function fits(values: Record<string, string>, memoryMb: number): string | undefined {
  const pinned = HEAP_CACHES.filter((n) => values[n] !== undefined);
  if (!pinned.length) return undefined;
  const sizes = { ...cacheSizesMb(memoryMb), ...Object.fromEntries(pinned.map((n) => [n, Number(values[n])])) };
  const total = sizes.key_cache_size + sizes.counter_cache_size;
  const limit = cacheLimitMb(memoryMb);
  if (total <= limit) return undefined;
  const named = pinned.map((n) => `${n} ${values[n]} MiB`).join(' and ');
  return `${named}: the key and counter caches (${total} MiB together) may take at most ${limit} MiB, a quarter of the ${heapMb(memoryMb)} MiB heap of a ${memoryMb} MB instance`;
}

export const cassandraParameters: ParameterCatalog = checkCatalog({ rules: RULES, defaults, fits });

const RULE = new Map(RULES.map((r) => [r.name, r]));

/**
 * The nodetool command that hands the running node a dynamic parameter's
 * canonical value (digits or on/off, already checked: nothing else can reach
 * an argument). Each is the server's own runtime setter of the setting that
 * system_views.settings reports.
 */
export const LIVE_COMMANDS: Readonly<Record<string, (value: string) => string[]>> = {
  compaction_throughput: (v) => ['setcompactionthroughput', v],
  // Without -m the value would be megabits per second.
  stream_throughput_outbound: (v) => ['setstreamthroughput', '-m', v],
  concurrent_compactors: (v) => ['setconcurrentcompactors', v],
  read_request_timeout: (v) => ['settimeout', 'read', v],
  range_request_timeout: (v) => ['settimeout', 'range', v],
  write_request_timeout: (v) => ['settimeout', 'write', v],
  counter_write_request_timeout: (v) => ['settimeout', 'counterwrite', v],
  request_timeout: (v) => ['settimeout', 'misc', v],
  hinted_handoff_enabled: (v) => [v === 'on' ? 'enablehandoff' : 'disablehandoff'],
  max_hint_window: (v) => ['setmaxhintwindow', v],
};

/** A canonical value as cassandra.yaml spells it: the unit is part of a 5.0 value. */
function yamlValue(rule: ParameterRule, value: string): string | number | boolean {
  if (rule.type === 'boolean') return value === 'on';
  return rule.unit ? `${value}${rule.unit}` : Number(value);
}

/**
 * Every catalog parameter's cassandra.yaml entry for a node of `memoryMb`:
 * the group's value where it sets one, the default otherwise. The group is
 * checked again here (it is read back from a file): only canonical values
 * are ever rendered.
 */
export function parameterYaml(memoryMb: number, group: Record<string, string>): Record<string, string | number | boolean> {
  const values = { ...defaults(memoryMb), ...checkParameters(RULES, group, 'configuration') };
  return Object.fromEntries(RULES.map((r) => [r.name, yamlValue(r, values[r.name]!)]));
}

/** The value each dynamic parameter must have on the running node: the group's, or the default a detach takes back. */
export function liveValues(memoryMb: number, group: Record<string, string>): Record<string, string> {
  const all = { ...defaults(memoryMb), ...group };
  return Object.fromEntries(RULES.filter((r) => r.dynamic).map((r) => [r.name, all[r.name]!]));
}

const DURATION_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: MINUTE_MS, h: 60 * MINUTE_MS, d: 24 * 60 * MINUTE_MS };
const STORAGE_B: Readonly<Record<string, number>> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };
const RATE_BPS: Readonly<Record<string, number>> = { 'B/s': 1, 'KiB/s': 1024, 'MiB/s': 1024 ** 2, 'GiB/s': 1024 ** 3 };
const SCALES = [DURATION_MS, STORAGE_B, RATE_BPS];

/**
 * What system_views.settings reports for a parameter ("3h", "64MiB/s",
 * "true", "8"), in the rule's canonical form; undefined when it cannot be
 * read that way (the caller then sets the value rather than trust a guess).
 */
export function liveValue(name: string, reported: string | null | undefined): string | undefined {
  const rule = RULE.get(name);
  if (!rule || reported == null) return undefined;
  const text = reported.trim();
  if (rule.type === 'boolean') return text === 'true' ? 'on' : text === 'false' ? 'off' : undefined;
  const m = /^(\d{1,15})\s*([A-Za-z/]*)$/.exec(text);
  if (!m) return undefined;
  const [, digits, unit] = m;
  if (!rule.unit) return unit ? undefined : String(Number(digits));
  if (unit === rule.unit) return String(Number(digits));
  const scale = SCALES.find((s) => s[unit!] !== undefined && s[rule.unit!] !== undefined);
  if (!scale) return undefined;
  const n = (Number(digits) * scale[unit!]!) / scale[rule.unit]!;
  return Number.isInteger(n) ? String(n) : undefined;
}
