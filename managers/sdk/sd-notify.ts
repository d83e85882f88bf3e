// systemd Type=notify support. Node has no unix datagram sockets, so this uses
// systemd-notify(1); the unit sets NotifyAccess=all for that reason. A no-op
// when NOTIFY_SOCKET is unset (not under systemd).
import { execFile } from 'node:child_process';

export function sdNotify(state: Record<string, string>, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  if (!env.NOTIFY_SOCKET) return Promise.resolve(false);
  const args = Object.entries(state).map(([k, v]) => `${k}=${v}`);
  return new Promise((resolve) => {
    execFile('systemd-notify', [`--pid=${process.pid}`, ...args], { env, timeout: 5_000 }, (err) => resolve(!err));
  });
}

/** WATCHDOG_USEC from systemd, as a ping interval of half the timeout (ms), or undefined. */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isFinite(usec) || usec <= 0) return undefined;
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== process.pid) return undefined;
  return Math.max(500, Math.floor(usec / 2000));
}
