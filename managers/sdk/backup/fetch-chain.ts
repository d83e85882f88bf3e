// The first step of every restore: the whole chain in a staging directory,
// each backup verified against its recorded size and sha256 and its data key
// unwrapped, before a strategy writes anything of its own. Whatever happens
// next, the keys are forgotten and the staging directory is removed here.
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { ManagerContext, OperationScope } from '../contract.js';
import { failedPrecondition } from '../errors.js';
import { forget } from './keys.js';
import { dataKeyOf, fetchVerified, openVerified } from './pipeline.js';
import { byteProgress } from './progress.js';
import { openStorage } from './storage/open.js';
import type { BackupArtifact, RestoreBackupCommand } from './types.js';

export interface FetchedBackup {
  readonly artifact: BackupArtifact;
  /** The stored object, verified; a strategy removes it once unpacked when it needs the disk. */
  readonly file: string;
  /** Its native bytes: decrypted, then decompressed. */
  open(): Readable;
}

/**
 * Fetches every backup of `req.chain` (checked by the strategy beforehand)
 * into `<stateDir>/restore-staging`, reporting bytes within `range` of `op`,
 * then runs `use` with them in chain order (and the staging directory, for a
 * strategy's own work files). With `fills`, that directory must be empty
 * first: a restore only fills a new instance.
 */
export async function withFetchedChain<T>(
  o: { ctx: Pick<ManagerContext, 'stateDir'>; req: RestoreBackupCommand; op: OperationScope; range: [number, number]; fills?: string },
  use: (chain: FetchedBackup[], stagingDir: string) => Promise<T>,
): Promise<T> {
  const { ctx, req, op } = o;
  if (o.fills && (await readdir(o.fills).catch(() => [])).length) {
    throw failedPrecondition(`the data directory ${o.fills} is not empty: a restore only fills a new instance`);
  }
  const staging = join(ctx.stateDir, 'restore-staging');
  const keys: Buffer[] = [];
  try {
    // Every key first: a missing or wrong grant is refused before a byte is downloaded.
    for (const item of req.chain) keys.push(dataKeyOf(item.artifact!, item.key));
    await rm(staging, { recursive: true, force: true });
    await mkdir(staging, { recursive: true, mode: 0o700 });
    const chain = req.chain.map(({ artifact }, i): FetchedBackup => {
      const file = join(staging, `${i}.stored`);
      return { artifact: artifact!, file, open: () => openVerified(file, artifact!, keys[i], op.signal) };
    });
    const total = chain.reduce((n, f) => n + f.artifact.size, 0);
    const storage = openStorage(req.storage);
    try {
      let before = 0;
      for (const [i, { artifact, file }] of chain.entries()) {
        const count = chain.length > 1 ? `${i + 1}/${chain.length} ` : '';
        const report = byteProgress(op, `fetching and verifying ${count}${artifact.backupId}`, o.range, total);
        const base = before;
        await fetchVerified({ storage, artifact, stagingFile: file, signal: op.signal, onBytes: (b) => report(base + b) });
        before += artifact.size;
      }
    } finally {
      storage.close();
    }
    return await use(chain, staging);
  } finally {
    keys.forEach(forget);
    await rm(staging, { recursive: true, force: true });
  }
}
