// The process service backend with stand-in servers (sh, sleep): supervision
// rules are the same whatever the server, and these start in milliseconds.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../managers/sdk/logger.js';
import { isRoot, lookupOsUser, parsePasswd } from '../../managers/sdk/os-user.js';
import type { ServiceSpec } from '../../managers/sdk/service-control.js';
import { ProcessServiceControl, isAlive } from '../../managers/sdk/service-process.js';

// The shell stays the process (no exec): adoption matches the command line, which exec would replace.
const LOOP = 'while :; do sleep 1; done';
const log = createLogger('test-service', { level: 'silent' });
let dir: string;
const controls: ProcessServiceControl[] = [];
const specs: ServiceSpec[] = [];

function control(opts = {}): ProcessServiceControl {
  const c = new ProcessServiceControl(log, { backoffMs: 50, pollMs: 100, ...opts });
  controls.push(c);
  return c;
}

function spec(name: string, script: string, extra: Partial<ServiceSpec> = {}): ServiceSpec {
  const s: ServiceSpec = {
    name,
    command: '/bin/sh',
    args: ['-c', script, name], // the name as $0 makes each command line unique
    pidFile: join(dir, `${name}.pid`),
    logFile: join(dir, `${name}.log`),
    stopTimeoutMs: 2_000,
    ...extra,
  };
  specs.push(s);
  return s;
}

async function until(what: string, fn: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const statField = (pid: number, index: number): number => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[index]);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'steward-svc-'));
});

afterEach(async () => {
  for (const c of controls.splice(0)) {
    for (const s of specs) await c.stop(s).catch(() => undefined);
    c.close();
  }
  specs.length = 0;
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('process service backend', () => {
  it('starts the server in its own session, writes the pid file and appends output to the log', async () => {
    const c = control();
    const s = spec('echoer', `echo hello from $0; ${LOOP}`);
    await c.start(s);
    const pid = (await c.pid(s))!;
    expect(Number((await readFile(s.pidFile, 'utf8')).trim())).toBe(pid);
    expect(await c.state(s)).toBe('running');
    // Own process group and session: the agent's death (or its group being signalled) leaves it alone.
    expect(statField(pid, 2)).toBe(pid); // pgrp
    expect(statField(pid, 3)).toBe(pid); // session
    await until('log output', async () => (await readFile(s.logFile, 'utf8')).includes('hello from echoer'));

    await c.start(s); // already running: nothing new
    expect(await c.pid(s)).toBe(pid);

    await c.stop(s);
    expect(isAlive(pid)).toBe(false);
    expect(await c.state(s)).toBe('stopped');
    await expect(readFile(s.pidFile)).rejects.toMatchObject({ code: 'ENOENT' });
    await c.stop(s); // stopping a stopped service is fine
  });

  it('adopts a live server named by the pid file instead of starting a second one', async () => {
    const first = control();
    const s = spec('adoptee', LOOP);
    await first.start(s);
    const pid = await first.pid(s);
    first.close(); // the agent went away; the server did not

    const second = control();
    expect(await second.state(s)).toBe('running');
    await second.start(s);
    expect(await second.pid(s)).toBe(pid);

    // An adopted server is watched by polling: its death is noticed and it is restarted.
    process.kill(pid!, 'SIGKILL');
    await until('restart of the adopted server', async () => {
      const now = await second.pid(s);
      return now !== undefined && now !== pid;
    });
  });

  it('does not adopt a pid whose command line differs (a recycled pid)', async () => {
    const c = control();
    const other = spec('other', LOOP);
    await c.start(other);
    const s = spec('mine', LOOP);
    await writeFile(s.pidFile, `${await c.pid(other)}\n`);
    expect(await c.state(s)).toBe('crashed'); // its pid file names a process that is not it
    await c.start(s);
    expect(await c.pid(s)).not.toBe(await c.pid(other));
  });

  it('escalates to SIGKILL when the server ignores the stop signal', async () => {
    const c = control();
    const s = spec('stubborn', "trap '' TERM; while :; do sleep 1; done", { stopTimeoutMs: 500 });
    await c.start(s);
    const pid = (await c.pid(s))!;
    await sleep(200); // let the shell install its trap
    const t0 = Date.now();
    await c.stop(s);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(450);
    expect(isAlive(pid)).toBe(false);
    expect(await c.state(s)).toBe('stopped');
  });

  it('restarts a crashing server at most 3 times in the window, then stays crashed', async () => {
    const c = control();
    const runs = join(dir, 'crasher.runs');
    const s = spec('crasher', `echo run >> ${runs}; exit 3`);
    await c.start(s);
    await until('giving up', async () => (await readFile(runs, 'utf8').catch(() => '')).split('\n').length === 5);
    await sleep(600); // longer than the next backoff would be: no fifth run
    expect((await readFile(runs, 'utf8')).trim().split('\n')).toHaveLength(4);
    expect(await c.state(s)).toBe('crashed');

    // An explicit start renews the budget; stop clears the crash.
    await c.stop(s);
    expect(await c.state(s)).toBe('stopped');
  });

  it('reports crashed for a server that died while no backend watched it', async () => {
    const first = control();
    const s = spec('orphan', LOOP);
    await first.start(s);
    const pid = (await first.pid(s))!;
    first.close();
    process.kill(pid, 'SIGKILL');
    await until('death', () => !isAlive(pid));
    expect(await control().state(s)).toBe('crashed');
  });

  it('honours an aborted signal', async () => {
    const c = control();
    const s = spec('never', LOOP);
    await expect(c.start(s, AbortSignal.abort())).rejects.toMatchObject({ name: 'AbortError' });
    expect(await c.state(s)).toBe('stopped');
  });

  it.runIf(isRoot())('drops to the service user when running as root', async () => {
    const nobody = await lookupOsUser('nobody');
    const c = control();
    const s = spec('dropper', LOOP, { user: 'nobody' });
    await c.start(s);
    const status = readFileSync(`/proc/${await c.pid(s)}/status`, 'utf8');
    expect(status).toMatch(new RegExp(`^Uid:\\s+${nobody.uid}\\s+${nobody.uid}`, 'm'));
    expect(status).toMatch(new RegExp(`^Gid:\\s+${nobody.gid}\\s+${nobody.gid}`, 'm'));
    expect(status).toMatch(/^Groups:\s*$/m); // supplementary groups (root's) dropped too
  });
});

describe('os users', () => {
  it('parses passwd lines', () => {
    const text = 'root:x:0:0:root:/root:/bin/bash\nmysql:x:102:105:MySQL Server,,,:/nonexistent:/bin/false\n';
    expect(parsePasswd(text, 'mysql')).toEqual({ name: 'mysql', uid: 102, gid: 105, home: '/nonexistent' });
    expect(parsePasswd(text, 'mysq')).toBeUndefined();
  });
  it('refuses an unknown user with FAILED_PRECONDITION', async () => {
    await expect(lookupOsUser('no-such-user-here')).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
    await expect(lookupOsUser('--help')).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
  });
});
