import { describe, expect, it } from 'vitest';
import { StewardError } from '../../managers/sdk/errors.js';
import { checkName, checkPassword, checkUnique, quoteMysqlIdent, quotePgIdent } from '../../managers/sdk/identifiers.js';

const rules = { maxLength: 10, pattern: /^[a-z][a-z0-9_]*$/, reserved: ['admin', 'Root'], what: 'thing name' };

function refusal(fn: () => unknown): StewardError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(StewardError);
    return err as StewardError;
  }
  throw new Error('expected INVALID_ARGUMENT, nothing was thrown');
}

describe('checkName', () => {
  it('accepts a name that follows the rules and returns it unchanged', () => {
    expect(checkName('abc_1', 'x.name', rules)).toBe('abc_1');
    expect(checkName('a'.repeat(10), 'x.name', rules)).toBe('a'.repeat(10));
  });

  it.each([
    ['empty', ''],
    ['too long', 'a'.repeat(11)],
    ['unicode', 'café'],
    ['unicode lookalike', 'аdmin'], // Cyrillic а
    ['emoji', 'a😀'],
    ['control character', 'ab\u0007'],
    ['NUL', 'ab\0c'],
    ['newline', 'ab\nc'],
    ['pattern mismatch', 'Abc'],
    ['quote', "a'b"],
    ['space', 'a b'],
    ['reserved', 'admin'],
    ['reserved, other case', 'ADMIN'],
    ['reserved declared in upper case', 'root'],
  ])('refuses %s with INVALID_ARGUMENT naming the field', (_label, value) => {
    const err = refusal(() => checkName(value, 'users[3].name', rules));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.field).toBe('users[3].name');
    expect(err.message.startsWith('users[3].name: ')).toBe(true);
  });

  it.each([undefined, null, 42, {}, ['a']])('refuses a non-string (%j)', (value) => {
    expect(refusal(() => checkName(value, 'f', rules)).code).toBe('INVALID_ARGUMENT');
  });

  it('says what is wrong', () => {
    expect(refusal(() => checkName('', 'f', rules)).message).toMatch(/must not be empty/);
    expect(refusal(() => checkName('a'.repeat(11), 'f', rules)).message).toMatch(/at most 10/);
    expect(refusal(() => checkName('é', 'f', rules)).message).toMatch(/ASCII/);
    expect(refusal(() => checkName('admin', 'f', rules)).message).toMatch(/reserved/);
  });

  it('does not echo control characters back raw', () => {
    const err = refusal(() => checkName('A\u001b[31m', 'f', { ...rules, pattern: /^[A-Z]+$/ }));
    expect(err.message).not.toContain('\u001b');
  });
});

describe('checkPassword', () => {
  const pw = { minLength: 1, maxLength: 8 };
  it('accepts printable ASCII including quotes and backslashes', () => {
    expect(checkPassword(`a'"\\;%\``, 'password', pw)).toBe(`a'"\\;%\``);
  });
  it.each([
    ['empty', ''],
    ['too long', 'x'.repeat(9)],
    ['NUL', 'ab\0'],
    ['unicode', 'pässwd'],
    ['tab', 'a\tb'],
  ])('refuses %s and never echoes it', (_l, value) => {
    const err = refusal(() => checkPassword(value, 'users[0].password', pw));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.field).toBe('users[0].password');
    if (value) expect(err.message).not.toContain(value);
  });
});

describe('checkUnique', () => {
  it('names the duplicate entry', () => {
    const err = refusal(() => checkUnique(['a', 'b', 'a'], 'databases', (x) => x, 'database'));
    expect(err.field).toBe('databases[2]');
  });
  it('accepts distinct entries', () => {
    expect(() => checkUnique(['a', 'b'], 'databases', (x) => x)).not.toThrow();
  });
});

describe('identifier quoting', () => {
  it('wraps MySQL identifiers in backticks and doubles embedded ones', () => {
    expect(quoteMysqlIdent('app')).toBe('`app`');
    expect(quoteMysqlIdent('a`b')).toBe('`a``b`');
    expect(quoteMysqlIdent('`; DROP DATABASE mysql; --')).toBe('```; DROP DATABASE mysql; --`');
  });
  it('wraps PostgreSQL identifiers in double quotes and doubles embedded ones', () => {
    expect(quotePgIdent('app')).toBe('"app"');
    expect(quotePgIdent('a"b')).toBe('"a""b"');
  });
  it('refuses NUL, which no quoting can carry', () => {
    expect(() => quoteMysqlIdent('a\0b')).toThrow(StewardError);
    expect(() => quotePgIdent('a\0b')).toThrow(StewardError);
  });
});
