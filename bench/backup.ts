// Backup throughput: Steward's pipeline (mariadb-backup -> [zstd] -> libsodium
// secretstream -> sha256 -> filesystem storage, fsynced, atomic rename) against
// the bare tool writing to the same directory in the same run
// (mariadb-backup > file, or mariadb-backup | zstd > file; then fsync).
// Reports seconds, MB/s of native bytes, the ratio, and the peak resident
// memory of the process running Steward's pipeline, on a small data set and
// on one of at least BENCH_GB (default 1) GB: memory must not follow the size.
// Also the CPU seconds each side used (tool and zstd included) and, for the
// bare tool, how much of its time was the closing fsync: on a shared machine
// the wall-clock ratio moves with the neighbours' load, the CPU does not.
//   npx tsx bench/backup.ts [rounds]        (root, MariaDB + mariadb-backup + zstd installed)
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { createMysqlInstance, testOp } from '../test/fixtures/mysql-instance.js';
import { tempDir } from '../test/fixtures/controller.js';
import { ADMIN_SECRET, mysqlPaths } from '../managers/mysql/paths.js';
import { backupCommand, removeToolOptions, writeToolOptions } from '../managers/mysql/backup-tool.js';
import { summarize } from './stats.js';

const ROUNDS = Number(process.argv[2] ?? 3);
const TARGET_BYTES = Number(process.env.BENCH_GB ?? 1) * 1024 ** 3;
const MB = 1024 * 1024;

/** CPU seconds of this process' children that have exited (bash, the tool, zstd, sync). */
function childCpuSeconds(): number {
  const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ').map(Number);
  return (f[13] + f[14]) / 100; // USER_HZ
}

function treeSize(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) n += statSync(join(e.parentPath, e.name)).size;
  return n;
}

const inst = await createMysqlInstance({ memoryMb: 1024 });
const store = tempDir('steward-bench-store-');
try {
  await inst.manager.prepare(
    { memoryMb: 0, port: 0, bindAddress: '', databases: [], users: [], cluster: undefined, restore: undefined, replicaOf: undefined, configuration: {} },
    testOp(),
  );
  const paths = mysqlPaths(inst.ctx);
  const password = (await inst.ctx.secrets.get(ADMIN_SECRET))!;
  const conn = () => mysql.createConnection({ socketPath: paths.socket, user: 'steward_admin', password });

  function steward(id: string, compression: string) {
    const out = spawnSync(
      'npx',
      ['tsx', 'bench/backup-run.ts', JSON.stringify({ dir: inst.dir, instanceId: inst.ctx.instanceId, backupId: id, storageDir: store, compression })],
      {
        encoding: 'utf8',
        maxBuffer: 16 * MB,
      },
    );
    if (out.status !== 0) throw new Error(`steward backup failed: ${out.stderr}`);
    const r = JSON.parse(out.stdout.trim().split('\n').at(-1)!) as {
      seconds: number;
      size: number;
      rawSize: number;
      peakRssKb: number;
      cpuSeconds: number;
      toolCpuSeconds: number;
    };
    rmSync(join(store, inst.ctx.instanceId, id), { recursive: true, force: true });
    return r;
  }

  async function bare(id: string, compression: string) {
    const work = join(inst.dir, `bare-${id}`);
    mkdirSync(join(work, 'lsn'), { recursive: true });
    mkdirSync(join(work, 'tmp'), { recursive: true });
    const opts = await writeToolOptions(work, paths, password);
    const cmd = backupCommand({ optionsFile: opts, workDir: join(work, 'tmp'), lsnDir: join(work, 'lsn') });
    const file = join(store, `bare-${id}.xb${compression === 'zstd' ? '.zst' : ''}`);
    const quoted = [cmd.command, ...cmd.args].map((s) => `'${s}'`).join(' ');
    // The same as before with one shell builtin between the write and the fsync: when the writing ended.
    const script = `${quoted} 2>/dev/null ${compression === 'zstd' ? '| zstd -q -c -1 -T0 ' : ''}> '${file}' && echo $EPOCHREALTIME && sync '${file}'`;
    const cpu0 = childCpuSeconds();
    const wall0 = Date.now();
    const t0 = performance.now();
    const written = execFileSync('bash', ['-o', 'pipefail', '-c', script], { stdio: ['ignore', 'pipe', 'ignore'], encoding: 'utf8' });
    const seconds = (performance.now() - t0) / 1000;
    const cpuSeconds = childCpuSeconds() - cpu0;
    const syncSeconds = Math.max(0, seconds - (Number(written.trim()) * 1000 - wall0) / 1000);
    const size = statSync(file).size;
    rmSync(file);
    await removeToolOptions(opts);
    rmSync(work, { recursive: true, force: true });
    return { seconds, size, cpuSeconds, syncSeconds };
  }

  console.log(`warm-up / small data set: data directory ${(treeSize(inst.ctx.dataDir) / MB).toFixed(0)} MiB`);
  const small = steward('small', 'zstd');
  console.log(`  steward (zstd): ${small.seconds.toFixed(2)} s, peak RSS ${(small.peakRssKb / 1024).toFixed(0)} MiB`);

  console.log(`loading at least ${(TARGET_BYTES / 1024 ** 3).toFixed(1)} GiB ...`);
  const c = await conn();
  await c.query('CREATE DATABASE bench');
  await c.query('CREATE TABLE bench.t (id BIGINT AUTO_INCREMENT PRIMARY KEY, a VARCHAR(255), b VARBINARY(400), c INT) ENGINE=InnoDB');
  // Half text that compresses (a), half random bytes that do not (b): a backup is neither all zeros nor all noise.
  // From the sequence engine, not from the table itself: no temporary table in the server's tmpdir.
  let batch = 0;
  while (treeSize(inst.ctx.dataDir) < TARGET_BYTES * 1.05) {
    await c.query(
      `INSERT INTO bench.t (a, b, c) SELECT REPEAT(CONCAT('customer-', seq, ' ordered teapots; '), 6), RANDOM_BYTES(400), ${batch++} FROM bench.seq_1_to_200000`,
    );
  }
  const [[{ n }]] = (await c.query('SELECT COUNT(*) n FROM bench.t')) as unknown as [[{ n: number }]];
  await c.end();
  const dataBytes = treeSize(inst.ctx.dataDir);
  console.log(`data directory ${(dataBytes / MB).toFixed(0)} MiB, ${n} rows\n`);

  const peaks: number[] = [];
  const median = (xs: number[]) => summarize(xs).p50;
  for (const compression of ['none', 'zstd']) {
    const b: Array<Awaited<ReturnType<typeof bare>>> = [];
    const s: Array<ReturnType<typeof steward>> = [];
    const load0 = loadavg()[0];
    for (let i = 0; i < ROUNDS; i++) {
      // Alternate, so cache warmth favours neither side.
      b.push(await bare(`${compression}-${i}`, compression));
      s.push(steward(`${compression}-${i}`, compression));
      peaks.push(s[i].peakRssKb);
    }
    const bs = median(b.map((r) => r.seconds));
    const ss = median(s.map((r) => r.seconds));
    const raw = s.at(-1)!.rawSize;
    console.log(
      `compression ${compression} (${ROUNDS} rounds, medians; load average ${load0.toFixed(1)} -> ${loadavg()[0].toFixed(1)} on ${availableParallelism()} cores)`,
    );
    console.log(
      `  bare tool : ${bs.toFixed(2)} s  ${(raw / MB / bs).toFixed(0)} MB/s  stored ${(b.at(-1)!.size / MB).toFixed(0)} MiB` +
        `  (of which the closing fsync ${median(b.map((r) => r.syncSeconds)).toFixed(2)} s; CPU ${median(b.map((r) => r.cpuSeconds)).toFixed(2)} s)`,
    );
    console.log(
      `  steward   : ${ss.toFixed(2)} s  ${(raw / MB / ss).toFixed(0)} MB/s  stored ${(s.at(-1)!.size / MB).toFixed(0)} MiB (encrypted, checksummed)` +
        `  (CPU ${median(s.map((r) => r.cpuSeconds + r.toolCpuSeconds)).toFixed(2)} s, of which the tool${compression === 'zstd' ? ' and zstd' : ''} ${median(s.map((r) => r.toolCpuSeconds)).toFixed(2)} s)`,
    );
    console.log(`  ratio steward/bare: ${(ss / bs).toFixed(3)}  (${(((ss - bs) / bs) * 100).toFixed(1)}% slower)`);
    console.log(`  per round (adjacent runs): ${s.map((r, i) => (r.seconds / b[i].seconds).toFixed(3)).join(' ')}`);
  }
  console.log(
    `\npeak RSS of the pipeline process: ${(small.peakRssKb / 1024).toFixed(0)} MiB on the small data set, ` +
      `${(Math.max(...peaks) / 1024).toFixed(0)} MiB at most on ${(dataBytes / MB).toFixed(0)} MiB`,
  );
} finally {
  await inst.teardown();
  rmSync(store, { recursive: true, force: true });
}
