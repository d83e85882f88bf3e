// The logs of a PostgreSQL instance (capability "logs"): the server's log,
// always on (the logging collector writes one file per weekday and rotates),
// and the slow statement log, which is the same file with
// log_min_duration_statement switched on.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { LogSpec } from '../sdk/guest-logs.js';
import type { PgPaths } from './paths.js';

/** Statements slower than this are logged when the slow log is enabled without a threshold. */
const DEFAULT_SLOW_MS = 1000;

/** The collector's newest file: the one it writes to now. */
async function newestLog(dir: string): Promise<string | undefined> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const files = await Promise.all(
    names.filter((n) => /^postgresql-[A-Za-z]{3}\.log$/.test(n)).map(async (n) => ({ path: join(dir, n), mtime: (await stat(join(dir, n))).mtimeMs })),
  );
  return files.sort((a, b) => b.mtime - a.mtime)[0]?.path;
}

export function postgresqlLogs(paths: PgPaths): LogSpec[] {
  const current = () => newestLog(paths.serverLogDir);
  return [
    { name: 'postgresql', description: "The server's log: start-up, errors, checkpoints, connections when logged", file: current },
    {
      name: 'slow_query',
      description: 'Statements running at least threshold_ms (log_min_duration_statement), written to the server log',
      file: current,
      switch: {
        on: (ms) => ({ log_min_duration_statement: String(ms ?? DEFAULT_SLOW_MS) }),
        off: { log_min_duration_statement: '-1' },
        isOn: (v) => v.log_min_duration_statement !== undefined && v.log_min_duration_statement !== '-1',
        thresholdMs: (v) => Math.max(0, Number(v.log_min_duration_statement ?? -1)),
      },
    },
  ];
}
