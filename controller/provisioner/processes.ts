// Small process helpers for the local provisioner (Linux /proc based).
import { readdirSync, readFileSync } from 'node:fs';

export function isAlive(pid: number): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie still answers kill(0); it is dead for our purposes.
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Pids whose command line mentions `needle` (e.g. an instance's state directory). */
export function pidsMentioning(needle: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmdline.includes(needle)) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** SIGTERM, wait up to `graceMs`, then SIGKILL whatever is left. */
export async function terminate(pids: number[], graceMs: number): Promise<void> {
  const signal = (pid: number, sig: NodeJS.Signals) => {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  };
  pids.forEach((p) => signal(p, 'SIGTERM'));
  const end = Date.now() + graceMs;
  while (Date.now() < end && pids.some(isAlive)) await new Promise((r) => setTimeout(r, 100));
  pids.filter(isAlive).forEach((p) => signal(p, 'SIGKILL'));
  const killEnd = Date.now() + 5_000;
  while (Date.now() < killEnd && pids.some(isAlive)) await new Promise((r) => setTimeout(r, 50));
}

/** `preferred` when it is free on `host`, else any free port the OS picks. */
export async function freeLoopbackPort(host = '127.0.0.1', preferred = 0): Promise<number> {
  const { createServer } = await import('node:net');
  const tryPort = (port: number) =>
    new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(port, host, () => {
        const bound = (srv.address() as { port: number }).port;
        srv.close(() => resolve(bound));
      });
    });
  if (preferred) {
    try {
      return await tryPort(preferred);
    } catch {
      // taken (for instance by a server listening on every address): any port will do
    }
  }
  return tryPort(0);
}
