// The agent as systemd runs it: a real agent process with NOTIFY_SOCKET set
// (READY, STATUS, STOPPING reach the socket), its localhost-only health and
// metrics endpoint, a config error that names the bad key, and a clean exit on
// SIGTERM. The notify socket is a real unix datagram socket (python3 listens).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NOOP_MANAGER, tempDir, waitFor } from '../fixtures/controller.js';

const AGENT = join(import.meta.dirname, '..', '..', 'agent', 'main.ts');
const canNotify = spawnSync('sh', ['-c', 'command -v systemd-notify && command -v python3']).status === 0;
if (!canNotify) console.warn('SKIPPING sd_notify checks: systemd-notify or python3 is not installed');

function agentConfig(dir: string, extra = ''): string {
  const file = join(dir, 'agent.yaml');
  writeFileSync(
    file,
    `instanceId: sd-test\ndatastore: ${NOOP_MANAGER}\ncontroller:\n  address: 127.0.0.1:9\nstateDir: ${join(dir, 'state')}\nserviceControl: process\ninsecure: true\nheartbeatIntervalMs: 500\n${extra}`,
  );
  return file;
}

describe('agent process', () => {
  const children: ChildProcess[] = [];
  afterAll(() => children.forEach((c) => c.kill('SIGKILL')));

  it.skipIf(!canNotify)('tells systemd READY and STATUS, serves health on localhost only, and stops cleanly on SIGTERM', async () => {
    const dir = tempDir('agent-sd-');
    const sock = join(dir, 'notify.sock');
    const listener = spawn('python3', [
      '-c',
      'import socket,sys\ns=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nwhile True:\n  print(s.recv(4096).decode().replace("\\n"," | "), flush=True)',
      sock,
    ]);
    children.push(listener);
    let notified = '';
    listener.stdout.on('data', (d) => (notified += d.toString()));
    await waitFor('notify socket', async () => existsSync(sock), 10_000, 20);

    const agent = spawn(process.execPath, ['--import', 'tsx', AGENT, '--config', agentConfig(dir)], {
      env: { ...process.env, NOTIFY_SOCKET: sock },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(agent);
    let stdout = '';
    agent.stdout!.on('data', (d) => (stdout += d.toString()));
    await waitFor('READY=1', async () => notified.includes('READY=1'), 30_000);
    expect(notified).toMatch(/STATUS=agent started/);

    const port = Number(readFileSync(join(dir, 'state', 'run', 'agent-health.port'), 'utf8'));
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).toBe(503); // no controller at 127.0.0.1:9: not connected, and says so
    expect(await health.json()).toMatchObject({ connected: false });
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(/steward_agent_connected 0/);
    await expect(fetch(`http://127.0.0.2:${port}/healthz`)).rejects.toThrow(); // loopback address only

    agent.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => agent.once('exit', r));
    expect(code).toBe(0);
    await waitFor('STOPPING=1', async () => notified.includes('STOPPING=1'), 10_000);
    // Every log line is structured JSON.
    for (const line of stdout.trim().split('\n')) expect(() => JSON.parse(line)).not.toThrow();
  });

  it('refuses a bad config naming the key, with exit code 2', () => {
    const dir = tempDir('agent-badcfg-');
    const res = spawnSync(process.execPath, ['--import', 'tsx', AGENT, '--config', agentConfig(dir, 'memoryMb: lots\nsurprise: 1\n')], { encoding: 'utf8' });
    expect(res.status).toBe(2);
    expect(res.stderr).toMatch(/memoryMb/);
    expect(res.stderr).toMatch(/surprise/);
  });
});
