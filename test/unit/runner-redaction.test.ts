// Deadlines and cancellation reach child processes; secrets never leave
// through a tool's output, an error message or a log line.
import { describe, expect, it } from 'vitest';
import { failureSummary, run } from '../../managers/sdk/runner.js';
import { createLogger } from '../../managers/sdk/logger.js';
import { registerSecret } from '../../managers/sdk/redact.js';
import { generatePassword } from '../../managers/sdk/secrets.js';
import { isAlive } from '../../controller/provisioner/processes.js';

describe('child-process runner', () => {
  it('kills the child when the deadline passes and says DEADLINE_EXCEEDED', async () => {
    const t0 = Date.now();
    const err = await run('sleep', ['30'], { timeoutMs: 300 }).catch((e) => e);
    expect(err.code).toBe('DEADLINE_EXCEEDED');
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('kills the child on cancellation and says CANCELLED', async () => {
    const abort = new AbortController();
    let pid = 0;
    const p = run('sh', ['-c', 'exec sleep 30'], { signal: abort.signal }).catch((e) => e);
    await new Promise((r) => setTimeout(r, 200));
    const { execSync } = await import('node:child_process');
    pid = Number(execSync("pgrep -n -f '^sleep 30$'").toString().trim());
    abort.abort();
    expect((await p).code).toBe('CANCELLED');
    await new Promise((r) => setTimeout(r, 100));
    expect(isAlive(pid)).toBe(false);
  });

  it('redacts a known secret from the error of a failing tool', async () => {
    const secret = generatePassword();
    const err = await run('sh', ['-c', `echo "access denied for password ${secret}" >&2; exit 3`]).catch((e) => e);
    expect(err.message).toContain('exited with 3');
    expect(err.message).not.toContain(secret);
    expect(err.message).toContain('[REDACTED]');
  });
});

describe('logger', () => {
  it('hides secret fields by name and secret values wherever they appear', () => {
    const lines: string[] = [];
    const log = createLogger('t', { destination: { write: (l: string) => void lines.push(l) } });
    const value = 'Zq8-not-a-field-but-a-value';
    registerSecret(value);
    log.info({ password: 'hunter2-pw', nested: { token: 'tok-123456' }, user: 'alice' }, `message mentioning ${value}`);
    log.error({ err: `failed with ${value} inside` }, 'oops');
    const all = lines.join('');
    expect(all).not.toContain('hunter2-pw');
    expect(all).not.toContain('tok-123456');
    expect(all).not.toContain(value);
    expect(all).toContain('alice');
    expect(all.match(/\[REDACTED\]/g)!.length).toBeGreaterThanOrEqual(4);
  });
});

describe('failureSummary', () => {
  it('puts the error lines of a failed tool before its closing boilerplate', () => {
    const out = [
      'Installing MariaDB/MySQL system tables ...',
      '2026-11-26 [ERROR] InnoDB: cannot allocate memory',
      'more',
      'You can find the latest source at x',
      'the MariaDB discuss list',
      '',
      'Please check all of the above',
      'at https://mariadb.org/jira',
    ].join('\n');
    const s = failureSummary(out);
    expect(s.split('\n')[0]).toContain('[ERROR] InnoDB: cannot allocate memory');
    expect(s).toContain('at https://mariadb.org/jira');
  });

  it('is the first and last lines when nothing says error (the cause first, boilerplate last)', () => {
    expect(failureSummary('a\nb\nc\nd\ne\nf\ng')).toBe('a\nb\nc\nd\ne\nf\ng');
    const installDb = [
      "Neither host 'vm' nor 'localhost' could be looked up with",
      "'/usr/bin/resolveip'",
      "Please configure the 'hostname' command to return a correct",
      'hostname.',
      'If you want to solve this at a later stage, restart this script',
      'with the --force option',
      '',
      'The latest information about mysql_install_db is available at',
      'https://mariadb.com/kb/en/installing-system-tables-mysql_install_db',
    ].join('\n');
    expect(failureSummary(installDb).split('\n')[0]).toBe("Neither host 'vm' nor 'localhost' could be looked up with");
    expect(failureSummary('one\ntwo')).toBe('one\ntwo');
  });
});
