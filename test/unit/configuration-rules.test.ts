// The shared parameter checks every datastore's configuration groups go
// through (managers/sdk/configuration.ts): canonical values, bounds, unknown
// names, hostile text, and what an apply leaves pending.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { canonicalValue, changedNames, checkCatalog, checkParameters, restartRequired, type ParameterRule } from '../../managers/sdk/configuration.js';
import { ConfigurationState } from '../../managers/sdk/configuration-state.js';
import { StewardError } from '../../managers/sdk/errors.js';

const RULES: ParameterRule[] = [
  { name: 'conns', type: 'integer', min: 10, max: 1000, dynamic: true, description: 'c' },
  { name: 'ratio', type: 'float', min: 0, max: 1, dynamic: true, description: 'r' },
  { name: 'flag', type: 'boolean', dynamic: false, description: 'f' },
  { name: 'mode', type: 'enum', values: ['fast', 'safe'], dynamic: false, description: 'm' },
];

const refused = (fn: () => unknown, field: string) => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(StewardError);
    expect((err as StewardError).code).toBe('INVALID_ARGUMENT');
    expect((err as StewardError).message).toContain(field);
    return;
  }
  throw new Error(`accepted; expected a refusal naming ${field}`);
};

describe('configuration parameter rules', () => {
  it('values become canonical: floats without trailing zeros, booleans on/off, enums exact', () => {
    expect(checkParameters(RULES, { conns: '100', ratio: '0.50', flag: 'TRUE', mode: 'safe' })).toEqual({
      conns: '100',
      ratio: '0.5',
      flag: 'on',
      mode: 'safe',
    });
    expect(canonicalValue(RULES[2]!, 'off', 'f')).toBe('off');
    expect(canonicalValue(RULES[2]!, '0', 'f')).toBe('off');
  });

  it('refuses out of range, wrong type, hostile text and unknown names, naming the parameter and the rule', () => {
    const hostile = ['9', '1001', '1e2', '0x10', '100\n[client]', "100'", '100;', '100 # x', '١٠٠', '', ' ', '-0'.repeat(40), ' 100', '100 ', '0100', '+100'];
    for (const v of hostile) refused(() => checkParameters(RULES, { conns: v }), 'values.conns');
    refused(() => checkParameters(RULES, { conns: '9' }), 'an integer from 10 to 1000');
    for (const v of ['NaN', 'Infinity', '1.5', '-0.1', '0.5.1']) refused(() => checkParameters(RULES, { ratio: v }), 'values.ratio');
    for (const v of ['maybe', 'on\n', 'yes please']) refused(() => checkParameters(RULES, { flag: v }), 'values.flag');
    for (const v of ['FAST', 'fast ', 'fast,safe', 'fast\nsafe']) refused(() => checkParameters(RULES, { mode: v }), 'one of fast, safe');
    refused(() => checkParameters(RULES, { nope: '1' }), 'values.nope');
    refused(() => checkParameters(RULES, { 'conns\n[x]': '1' }), 'is not a parameter');
    refused(() => checkParameters(RULES, { ['n'.repeat(10_000)]: '1' }), 'is not a parameter');
    refused(() => checkParameters(RULES, JSON.parse('{"__proto__": "1"}') as Record<string, string>), 'is not a parameter');
    refused(() => checkParameters(RULES, Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`p${i}`, '1']))), 'has 50 parameters');
    refused(() => checkParameters(RULES, { conns: 'x'.repeat(100) }), 'values.conns');
  });

  it('restart-required names among the changed ones; a catalog with a bad rule does not load', () => {
    expect(changedNames({ conns: '10', flag: 'on' }, { conns: '10', mode: 'fast' })).toEqual(['flag', 'mode']);
    expect(restartRequired(RULES, ['conns', 'flag', 'mode'])).toEqual(['flag', 'mode']);
    expect(() => checkCatalog({ rules: [...RULES, RULES[0]!], defaults: () => ({}) })).toThrow(/repeated/);
    expect(() => checkCatalog({ rules: [{ name: 'e', type: 'enum', dynamic: true, description: '' }], defaults: () => ({}) })).toThrow(/needs values/);
    expect(() => checkCatalog({ rules: [{ name: 'n', type: 'integer', min: 2, max: 1, dynamic: true, description: '' }], defaults: () => ({}) })).toThrow(
      /min <= max/,
    );
  });

  it('the agent remembers what waits for a restart across applies until the server starts', async () => {
    const state = new ConfigurationState(join(mkdtempSync(join(tmpdir(), 'cfg-state-')), 'etc'));
    expect(await state.values()).toEqual({});
    expect(await state.record(RULES, { conns: '20', flag: 'on' })).toEqual({ values: { conns: '20', flag: 'on' }, pendingRestart: ['flag'] });
    expect((await state.record(RULES, { conns: '30', flag: 'on', mode: 'safe' })).pendingRestart).toEqual(['flag', 'mode']);
    await state.started();
    expect(await state.pendingRestart()).toEqual([]);
    // Detaching a restart-required value is itself a change that waits.
    expect(await state.record(RULES, {})).toEqual({ values: {}, pendingRestart: ['flag', 'mode'] });
  });
});
