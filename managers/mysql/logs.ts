// The logs of a MySQL/MariaDB instance (capability "logs"): the error log,
// always on, and the slow query and general logs, switched through their
// configuration parameters. All three live in the instance's log directory,
// where the agent hands the server files of its own (the directory is not the
// server's to create files in).
import type { LogSpec } from '../sdk/guest-logs.js';
import { handOverFile } from '../sdk/data-dir.js';
import type { OsUser } from '../sdk/os-user.js';
import type { MysqlPaths } from './paths.js';

const present = (path: string) => async () => path;

export function mysqlLogs(paths: MysqlPaths): LogSpec[] {
  return [
    { name: 'error', description: "The server's error log: start-up, shutdown, crashes, replication errors", file: present(paths.errorLog) },
    {
      name: 'slow_query',
      description: 'Statements slower than long_query_time (threshold_ms)',
      file: present(paths.slowLog),
      switch: {
        on: (ms) => ({ slow_query_log: 'on', ...(ms === undefined ? {} : { long_query_time: String(ms / 1000) }) }),
        off: { slow_query_log: 'off' },
        isOn: (v) => v.slow_query_log === 'on',
        thresholdMs: (v) => Math.round(Number(v.long_query_time ?? 10) * 1000),
      },
    },
    {
      name: 'general',
      description: 'Every statement every client sends (heavy: for short investigations)',
      file: present(paths.generalLog),
      switch: { on: () => ({ general_log: 'on' }), off: { general_log: 'off' }, isOn: (v) => v.general_log === 'on' },
    },
  ];
}

/** The files the server writes its logs to, created for it (an instance prepared before they existed gets them at its next render). */
export async function handOverLogFiles(paths: MysqlPaths, owner: OsUser | undefined): Promise<void> {
  for (const f of [paths.errorLog, paths.slowLog, paths.generalLog]) await handOverFile(f, owner);
}
