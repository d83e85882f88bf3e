// One Steward backup in a process of its own, so that its peak resident
// memory (VmHWM) is the pipeline's and nothing else's. Driven by bench/backup.ts:
//   npx tsx bench/backup-run.ts '<json>'   -> prints one JSON line
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ManagerContext, OperationScope } from '../managers/sdk/contract.js';
import { createLogger } from '../managers/sdk/logger.js';
import { run } from '../managers/sdk/runner.js';
import { FileSecretStore } from '../managers/sdk/secrets.js';
import { createBackup } from '../managers/mysql/backup.js';
import { mysqlPaths } from '../managers/mysql/paths.js';
import { BackupType } from '../proto/gen/steward/v1/backups.js';

interface Args {
  dir: string;
  instanceId: string;
  backupId: string;
  storageDir: string;
  compression: string;
}

const a = JSON.parse(process.argv[2]) as Args;
const ctx = {
  instanceId: a.instanceId,
  stateDir: a.dir,
  dataDir: join(a.dir, 'data'),
  configDir: join(a.dir, 'config'),
  runDir: join(a.dir, 'run'),
  logDir: join(a.dir, 'log'),
  secrets: new FileSecretStore(join(a.dir, 'secrets')),
  runner: run,
  log: createLogger('bench-backup', { level: 'warn' }),
} as unknown as ManagerContext;
const op: OperationScope = { signal: new AbortController().signal, progress: () => undefined };

/** CPU seconds of this process (all its threads) so far, and of its children that have exited (the tool, zstd). */
function cpuSeconds(): { self: number; children: number } {
  const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ').map(Number);
  const tick = 100; // USER_HZ
  return { self: (f[11] + f[12]) / tick, children: (f[13] + f[14]) / tick };
}

const cpu0 = cpuSeconds();
const t0 = performance.now();
const artifact = await createBackup(
  { ctx, paths: mysqlPaths(ctx) },
  {
    backupId: a.backupId,
    type: BackupType.FULL,
    parent: undefined,
    storage: {
      kind: 'filesystem',
      path: a.storageDir,
      endpoint: '',
      region: '',
      bucket: '',
      prefix: '',
      accessKeyId: '',
      secretAccessKey: '',
      forcePathStyle: false,
    },
    key: { keyRef: 'bench', wrappingKey: Buffer.alloc(32, 7) },
    compression: a.compression,
  },
  op,
);
const seconds = (performance.now() - t0) / 1000;
const cpu1 = cpuSeconds();
const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
console.log(
  JSON.stringify({
    seconds,
    size: artifact.size,
    rawSize: artifact.rawSize,
    peakRssKb: Number(hwm),
    cpuSeconds: +(cpu1.self - cpu0.self).toFixed(2),
    toolCpuSeconds: +(cpu1.children - cpu0.children).toFixed(2),
  }),
);
