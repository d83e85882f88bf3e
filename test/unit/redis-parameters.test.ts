// The Redis configuration-group catalog as data: well-formed, its defaults
// within its own rules and equal to what redis.conf says without a group.
import { describe, expect, it } from 'vitest';
import { canonicalValue, checkCatalog, checkParameters } from '../../managers/sdk/configuration.js';
import { renderRedisConf, tuning } from '../../managers/redis/config.js';
import { confArguments, redisParameters, serverValue } from '../../managers/redis/parameters.js';
import { redisValidator } from '../../managers/redis/validation.js';
import { REDIS_CAPABILITIES } from '../../managers/redis/identity.js';
import { refusal } from '../fixtures/datastore-assertions.js';

const MEMORY_SIZES = [64, 256, 1024, 16384];
const settings = (memoryMb: number) => ({ bindAddress: '127.0.0.1', port: 6379, socket: '/s', dataDir: '/d', logFile: '/l', aclFile: '/a', memoryMb });

describe('redis parameter catalog', () => {
  it('passes checkCatalog and is what the validator and capabilities declare', () => {
    expect(checkCatalog(redisParameters)).toBe(redisParameters);
    expect(redisValidator.parameters).toBe(redisParameters);
    expect(REDIS_CAPABILITIES).toContain('configuration');
  });

  it('has a default for every rule and nothing else', () => {
    for (const memoryMb of MEMORY_SIZES) {
      expect(Object.keys(redisParameters.defaults(memoryMb)).sort()).toEqual(redisParameters.rules.map((r) => r.name).sort());
    }
  });

  it('has every default pass its own rule, already canonical', () => {
    for (const memoryMb of MEMORY_SIZES) {
      const defaults = redisParameters.defaults(memoryMb);
      for (const rule of redisParameters.rules) {
        expect(canonicalValue(rule, defaults[rule.name]!, rule.name), `${rule.name} at ${memoryMb} MB`).toBe(defaults[rule.name]);
      }
      expect(checkParameters(redisParameters.rules, defaults)).toEqual(defaults);
    }
  });

  it('takes maxmemory from the memory tuning, in bytes', () => {
    expect(tuning(128)).toContainEqual(['maxmemory', '96mb']);
    expect(redisParameters.defaults(128).maxmemory).toBe(String(96 * 1024 * 1024));
    expect(redisParameters.defaults(16384).maxmemory).toBe(String(12288 * 1024 * 1024));
    // The floor of the tuning is the rule's minimum.
    const rule = redisParameters.rules.find((r) => r.name === 'maxmemory')!;
    expect(redisParameters.defaults(8).maxmemory).toBe(String(rule.min));
    expect(redisParameters.defaults(128)['maxmemory-policy']).toBe('noeviction');
  });

  it('renders the defaults exactly as redis.conf says without a group', () => {
    for (const memoryMb of MEMORY_SIZES) {
      const plain = renderRedisConf(settings(memoryMb));
      const defaults = redisParameters.defaults(memoryMb);
      expect(renderRedisConf(settings(memoryMb), undefined, defaults)).toBe(plain);
      const lines = plain.split('\n');
      for (const rule of redisParameters.rules) {
        expect(
          lines.filter((l) => l.startsWith(`${rule.name} `)),
          rule.name,
        ).toHaveLength(1);
      }
      expect(lines).toContain(`maxmemory ${tuning(memoryMb)[0]![1]}`);
    }
  });

  it('declares restart only where Redis needs one', () => {
    const restart = redisParameters.rules.filter((r) => !r.dynamic).map((r) => r.name);
    expect(restart).toEqual(['databases']);
    for (const r of redisParameters.rules) expect(r.description.length, r.name).toBeGreaterThan(10);
  });

  it('keeps what the manager owns out of the catalog', () => {
    const names = new Set(redisParameters.rules.map((r) => r.name));
    for (const owned of [
      'appendonly',
      'replicaof',
      'masterauth',
      'masteruser',
      'min-replicas-to-write',
      'min-replicas-max-lag',
      'aclfile',
      'dir',
      'port',
      'bind',
      'unixsocket',
      'dbfilename',
      'tls-port',
      'notify-keyspace-events',
      'enable-debug-command',
    ]) {
      expect(names.has(owned), owned).toBe(false);
    }
  });

  it('speaks to the server in its own words', () => {
    expect(serverValue('lazyfree-lazy-expire', 'on')).toBe('yes');
    expect(serverValue('lazyfree-lazy-expire', 'off')).toBe('no');
    expect(serverValue('save', 'off')).toBe('');
    expect(serverValue('save', '3600 1')).toBe('3600 1');
    expect(confArguments('save', '900 1 300 10 60 10000')).toEqual(['900', '1', '300', '10', '60', '10000']);
    expect(confArguments('save', 'off')).toEqual(['']);
    expect(confArguments('maxmemory', String(64 * 1024 * 1024))).toEqual(['64mb']);
    expect(confArguments('maxmemory', '100000000')).toEqual(['100000000']);
    expect(() => serverValue('requirepass', 'x')).toThrow(/not a Redis configuration group parameter/);
    // Whatever reaches it is checked again: an uncanonical boolean is not read as "no", a line break never passes.
    expect(serverValue('lazyfree-lazy-expire', 'yes')).toBe('yes');
    expect(refusal(() => serverValue('timeout', '30\nrequirepass x')).field).toBe('configuration.timeout');
  });

  it('fits a group whose maxmemory stays below the memory, and its own defaults at every size', () => {
    const fits = redisParameters.fits!;
    for (const memoryMb of [128, ...MEMORY_SIZES.slice(1)]) {
      expect(fits(redisParameters.defaults(memoryMb), memoryMb), `${memoryMb} MB`).toBeUndefined();
      expect(fits({}, memoryMb)).toBeUndefined();
      // Just below the memory is the operator's trade-off, not refused.
      expect(fits({ maxmemory: String(memoryMb * 1024 * 1024 - 1) }, memoryMb)).toBeUndefined();
    }
    // Parameters that do not pin memory never stop a resize.
    expect(fits({ 'maxmemory-policy': 'allkeys-lru', databases: '1024', timeout: '30' }, 128)).toBeUndefined();
  });

  it('refuses a maxmemory at or above the memory, naming the parameter, its value and the limit', () => {
    const fits = redisParameters.fits!;
    const why = fits({ maxmemory: String(150 * 1024 * 1024), timeout: '30' }, 128);
    expect(why).toBe(
      "maxmemory is 157286400 bytes (150 MB), not below the instance's 128 MB: the data alone would fill the memory " +
        "and the server be killed before maxmemory-policy applies (lower it, or leave it to Steward's default, 96 MB at 128 MB)",
    );
    expect(fits({ maxmemory: String(128 * 1024 * 1024) }, 128)).toMatch(/^maxmemory is 134217728 bytes \(128 MB\), not below the instance's 128 MB/);
    expect(fits({ maxmemory: '100000000' }, 64)).toMatch(/\(95\.3 MB\), not below the instance's 64 MB/);
    // The same value fits the larger size: only the new size decides.
    expect(fits({ maxmemory: String(150 * 1024 * 1024) }, 256)).toBeUndefined();
    // An unchecked value is the rule check's to refuse (naming the field), not this one's.
    expect(fits({ maxmemory: '1e12' }, 128)).toBeUndefined();
  });

  it('renders a group over the defaults and refuses unchecked values at render time', () => {
    const lines = renderRedisConf(settings(256), undefined, { save: 'off', 'lazyfree-lazy-eviction': 'on', timeout: '30' }).split('\n');
    expect(lines).toContain('save ""');
    expect(lines).toContain('lazyfree-lazy-eviction yes');
    expect(lines).toContain('timeout 30');
    expect(lines).toContain('appendonly yes');
    expect(refusal(() => renderRedisConf(settings(256), undefined, { timeout: '1\nrequirepass x' })).field).toBe('configuration.timeout');
    expect(refusal(() => renderRedisConf(settings(256), undefined, { appendonly: 'no' })).field).toBe('configuration.appendonly');
  });
});
