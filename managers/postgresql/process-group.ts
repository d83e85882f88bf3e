// PostgreSQL is a postmaster and its children (one backend per session, the
// WAL writer, walsenders...). SIGKILL of the postmaster alone leaves the
// children running until they notice, and a backend in the middle of a
// statement can still commit meanwhile; and while any of them lives the
// data directory cannot be started again ("pre-existing shared memory block
// is still in use"). The service backend starts the postmaster in a process
// group of its own, so the whole server is its group: these kill that.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const groupAlive = (pgid: number): boolean => {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** SIGKILL to every process of the group `pgid` (the postmaster's pid); resolves once none is left, or after `waitMs`. */
export async function killGroup(pgid: number, waitMs = 10_000): Promise<void> {
  if (!Number.isInteger(pgid) || pgid <= 1) return;
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    return; // ESRCH: nobody left
  }
  const until = Date.now() + waitMs;
  while (groupAlive(pgid) && Date.now() < until) await sleep(20);
}

/** The pid the last postmaster of `dataDir` recorded (postmaster.pid's first line), if any. */
export async function lastPostmasterPid(dataDir: string): Promise<number | undefined> {
  const text = await readFile(join(dataDir, 'postmaster.pid'), 'utf8').catch(() => '');
  const pid = Number(text.split('\n')[0]);
  return Number.isInteger(pid) && pid > 1 ? pid : undefined;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Children a dead postmaster of `dataDir` left behind are killed; a live postmaster is left alone (it is stopped through the service). */
export async function killOrphans(dataDir: string): Promise<void> {
  const pid = await lastPostmasterPid(dataDir);
  if (pid !== undefined && !alive(pid)) await killGroup(pid);
}
