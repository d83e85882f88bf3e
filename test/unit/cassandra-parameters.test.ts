import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { canonicalValue, checkCatalog, checkParameters } from '../../managers/sdk/configuration.js';
import { cacheSizesMb, heapMb, renderCassandraYaml, tuning, type NodeSettings } from '../../managers/cassandra/config.js';
import { cassandraIdentity } from '../../managers/cassandra/identity.js';
import { cacheLimitMb, cassandraParameters, LIVE_COMMANDS, liveValue, liveValues, parameterYaml } from '../../managers/cassandra/parameters.js';
import { cassandraPaths } from '../../managers/cassandra/paths.js';
import { refusal } from '../fixtures/datastore-assertions.js';

const { rules } = cassandraParameters;
const MEMORY = [256, 1024, 4096, 16384, 65536];
/** Parameters that pin no memory. */
const DYNAMIC_ONLY = { compaction_throughput: '0', concurrent_reads: '1024', request_timeout: '600000' };
const paths = cassandraPaths({ configDir: '/i/config', dataDir: '/i/data', runDir: '/i/run', logDir: '/i/log' });
const settings = (memoryMb: number): NodeSettings => ({
  clusterName: 'c',
  seeds: ['10.0.0.1'],
  dataCenter: 'dc1',
  rack: 'rack1',
  autoBootstrap: false,
  address: '10.0.0.1',
  nativePort: 9042,
  storagePort: 7000,
  jmxPort: 7199,
  memoryMb,
});
const rendered = (memoryMb: number, group: Record<string, string> = {}) =>
  parse(renderCassandraYaml(settings(memoryMb), paths, parameterYaml(memoryMb, group))) as Record<string, unknown>;

describe('cassandra parameter catalog', () => {
  it('is a valid catalog, registered with the validator and declared as a capability', () => {
    expect(checkCatalog(cassandraParameters)).toBe(cassandraParameters);
    expect(cassandraIdentity.validator.parameters).toBe(cassandraParameters);
    expect(cassandraIdentity.capabilities).toContain('configuration');
    for (const r of rules) expect(r.description.length, r.name).toBeGreaterThan(10);
    // Never what the ring or the node's identity depends on.
    const names = rules.map((r) => r.name);
    for (const n of ['cluster_name', 'num_tokens', 'partitioner', 'seed_provider', 'listen_address', 'native_transport_port', 'authenticator']) {
      expect(names).not.toContain(n);
    }
  });

  it.each(MEMORY)('has a default for every parameter that passes its own rule at %i MB', (memoryMb) => {
    const d = cassandraParameters.defaults(memoryMb);
    expect(Object.keys(d).sort()).toEqual(rules.map((r) => r.name).sort());
    for (const r of rules) expect(canonicalValue(r, d[r.name]!, r.name), r.name).toBe(d[r.name]);
    expect(checkParameters(rules, d)).toEqual(d);
  });

  it('takes memory-derived defaults from the tuning rules and Cassandra its own defaults otherwise', () => {
    for (const m of MEMORY) {
      const d = cassandraParameters.defaults(m);
      const t = tuning(m);
      expect(d).toMatchObject({
        concurrent_reads: String(t.concurrent_reads),
        concurrent_writes: String(t.concurrent_writes),
        concurrent_counter_writes: String(t.concurrent_counter_writes),
        concurrent_compactors: String(t.concurrent_compactors),
        key_cache_size: String(cacheSizesMb(m).key_cache_size),
        counter_cache_size: String(cacheSizesMb(m).counter_cache_size),
      });
    }
    // A 512 MiB heap: Cassandra's 5% and 2.5% of it; a large heap hits the caps.
    expect(cacheSizesMb(1024)).toEqual({ key_cache_size: 25, counter_cache_size: 12 });
    expect(cacheSizesMb(65536)).toEqual({ key_cache_size: 100, counter_cache_size: 50 });
    expect(cassandraParameters.defaults(1024)).toMatchObject({
      compaction_throughput: '64',
      stream_throughput_outbound: '24',
      read_request_timeout: '5000',
      write_request_timeout: '2000',
      hinted_handoff_enabled: 'on',
      max_hint_window: '10800000',
      auto_snapshot: 'on',
    });
  });

  it.each(MEMORY)('renders exactly the defaults into cassandra.yaml without a group, with 5.0 units (%i MB)', (memoryMb) => {
    const y = rendered(memoryMb);
    const d = cassandraParameters.defaults(memoryMb);
    for (const r of rules) expect(liveValue(r.name, String(y[r.name])), r.name).toBe(d[r.name]);
    if (memoryMb === 1024) {
      expect(y).toMatchObject({
        compaction_throughput: '64MiB/s',
        stream_throughput_outbound: '24MiB/s',
        read_request_timeout: '5000ms',
        key_cache_size: '25MiB',
        batch_size_warn_threshold: '5KiB',
        concurrent_reads: 8,
        tombstone_failure_threshold: 100000,
        hinted_handoff_enabled: true,
        max_hint_window: '10800000ms',
      });
    }
  });

  it("renders the group's values over the defaults and the memory tuning", () => {
    const y = rendered(1024, { compaction_throughput: '0', concurrent_reads: '48', hinted_handoff_enabled: 'off', gc_warn_threshold: '500' });
    expect(y).toMatchObject({ compaction_throughput: '0MiB/s', concurrent_reads: 48, hinted_handoff_enabled: false, gc_warn_threshold: '500ms' });
    expect(y.concurrent_writes).toBe(8);
  });

  it('never renders a stored value that is not canonical', () => {
    const stored: Array<Record<string, string>> = [
      { compaction_throughput: '64MiB/s' },
      { concurrent_reads: '8\nauthenticator: AllowAllAuthenticator' },
      { cluster_name: 'x' },
    ];
    for (const bad of stored) {
      expect(refusal(() => parameterYaml(1024, bad)).field).toMatch(/^configuration\./);
    }
  });

  it('has a nodetool command for exactly the dynamic parameters, the value as its own argument', () => {
    expect(Object.keys(LIVE_COMMANDS).sort()).toEqual(
      rules
        .filter((r) => r.dynamic)
        .map((r) => r.name)
        .sort(),
    );
    expect(LIVE_COMMANDS.stream_throughput_outbound!('48')).toEqual(['setstreamthroughput', '-m', '48']);
    expect(LIVE_COMMANDS.request_timeout!('9000')).toEqual(['settimeout', 'misc', '9000']);
    expect(LIVE_COMMANDS.hinted_handoff_enabled!('off')).toEqual(['disablehandoff']);
    const live = liveValues(1024, { compaction_throughput: '16', concurrent_reads: '32' });
    expect(Object.keys(live).sort()).toEqual(Object.keys(LIVE_COMMANDS).sort());
    expect(live).toMatchObject({ compaction_throughput: '16', stream_throughput_outbound: '24' });
  });

  it('reads what system_views.settings reports in the rule units', () => {
    expect(liveValue('max_hint_window', '3h')).toBe('10800000');
    expect(liveValue('gc_warn_threshold', '1s')).toBe('1000');
    expect(liveValue('compaction_throughput', '64MiB/s')).toBe('64');
    expect(liveValue('compaction_throughput', '1024KiB/s')).toBe('1');
    expect(liveValue('compaction_throughput', '1000B/s')).toBeUndefined();
    expect(liveValue('key_cache_size', '1GiB')).toBe('1024');
    expect(liveValue('concurrent_compactors', '2')).toBe('2');
    expect(liveValue('hinted_handoff_enabled', 'false')).toBe('off');
    for (const [name, text] of [
      ['concurrent_compactors', null],
      ['concurrent_compactors', '2ms'],
      ['read_request_timeout', '5000 parsecs'],
      ['read_request_timeout', '5000MiB'],
      ['hinted_handoff_enabled', 'on'],
      ['no_such_parameter', '1'],
    ] as const) {
      expect(liveValue(name, text), `${name} ${text}`).toBeUndefined();
    }
  });

  it('fits: caches a group pins may take at most a quarter of the heap of the new size, the defaults always fit', () => {
    const fits = cassandraParameters.fits!;
    for (const m of MEMORY) {
      expect(fits({}, m), `${m}`).toBeUndefined();
      expect(fits({ ...DYNAMIC_ONLY }, m), `${m}`).toBeUndefined();
      const d = cassandraParameters.defaults(m);
      expect(fits({ key_cache_size: d.key_cache_size!, counter_cache_size: d.counter_cache_size! }, m), `${m}`).toBeUndefined();
      expect(cacheLimitMb(m)).toBe(Math.floor(heapMb(m) / 4));
    }
    // 2048 MB: a 1024 MiB heap, 256 MiB for the caches; 1024 MB: a 512 MiB heap, 128 MiB.
    expect(fits({ key_cache_size: '200' }, 2048)).toBeUndefined();
    const why = fits({ key_cache_size: '200' }, 1024);
    expect(why).toContain('key_cache_size 200 MiB');
    expect(why).toContain('at most 128 MiB');
    expect(why).toContain('512 MiB heap of a 1024 MB instance');
    // The default counter cache at the new size counts too: 116 + 12 fits 128, 117 + 12 does not.
    expect(fits({ key_cache_size: '116' }, 1024)).toBeUndefined();
    expect(fits({ key_cache_size: '117' }, 1024)).toMatch(/^key_cache_size 117 MiB: .*129 MiB together/);
    expect(fits({ key_cache_size: '100', counter_cache_size: '50' }, 1024)).toMatch(/^key_cache_size 100 MiB and counter_cache_size 50 MiB:/);
    expect(fits({ counter_cache_size: '2048' }, 65536)).toMatch(/^counter_cache_size 2048 MiB: .*at most 2048 MiB/);
    // Caches off always fit.
    expect(fits({ key_cache_size: '0', counter_cache_size: '0' }, 256)).toBeUndefined();
  });

  it('refuses hostile values and names through the validator', () => {
    const check = (values: Record<string, string>) => checkParameters(cassandraIdentity.validator.parameters!.rules, values);
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ nope: '1' }, /^values\.nope$/],
      [{ compaction_throughput: '10241' }, /^values\.compaction_throughput$/],
      [{ compaction_throughput: '-1' }, /^values\.compaction_throughput$/],
      [{ read_request_timeout: '9' }, /^values\.read_request_timeout$/],
      [{ concurrent_reads: '1' }, /^values\.concurrent_reads$/],
      [{ concurrent_reads: '8 # x' }, /^values\.concurrent_reads$/],
      [{ auto_snapshot: 'maybe' }, /^values\.auto_snapshot$/],
      [{ Compaction_Throughput: '64' }, /^values\./],
      [{ ['x'.repeat(65)]: '1' }, /^values\./],
    ];
    for (const [values, field] of cases) expect(refusal(() => check(values)).field).toMatch(field);
  });
});
