// The frame every strategy's backup runs in: a fresh work directory, a data
// key of its own, the stream into storage, the artifact and its meta.json, and
// on any failure the removal of whatever reached storage. A strategy supplies
// only what is its own: how the native stream is made and what facts it
// records.
import { mkdir, rm, rmdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import type { ManagerContext, OperationScope } from '../contract.js';
import { forget, newDataKey, wrapDataKey } from './keys.js';
import { dataKey as dataObject, writeMeta } from './layout.js';
import { discardBackup, saveStream, type Saved } from './pipeline.js';
import { ENCRYPTION } from './secretstream.js';
import { openStorage } from './storage/open.js';
import type { CheckedBackup } from './strategy.js';
import { BackupType, type BackupArtifact, type CreateBackupCommand } from './types.js';

export interface BackupRun {
  /** `<stateDir>/backup-work/<backup id>`, 0700, empty; removed afterwards. */
  readonly workDir: string;
  /** Streams the native backup into this backup's data object (once). */
  save(source: Readable, onRawBytes?: (bytes: number) => void): Promise<Saved>;
}

export interface BackupOutcome {
  saved: Saved;
  datastoreVersion: string;
  facts: Record<string, string>;
  /** What the native bytes are, for the last progress line ("bytes of RDB"). */
  nativeWhat?: string;
  /** Runs once the backup is recorded in storage (housekeeping such as WAL pruning); its text ends the last progress line. */
  afterStored?: (artifact: BackupArtifact) => Promise<string>;
}

export async function runBackup(
  o: { ctx: ManagerContext; req: CreateBackupCommand; checked: CheckedBackup; datastore: string; op: OperationScope },
  body: (run: BackupRun) => Promise<BackupOutcome>,
): Promise<BackupArtifact> {
  const { ctx, req, checked, op } = o;
  const storage = openStorage(req.storage);
  // Mutating operations run one at a time: anything here is from an attempt a kill -9 cut short
  // (which may include a tool's options file with a password).
  await rm(join(ctx.stateDir, 'backup-work'), { recursive: true, force: true });
  const workDir = join(ctx.stateDir, 'backup-work', req.backupId);
  await mkdir(workDir, { recursive: true, mode: 0o700 });
  const dataKey = newDataKey();
  const createdAt = new Date().toISOString();
  try {
    const run: BackupRun = {
      workDir,
      save: (source, onRawBytes) =>
        saveStream({
          source,
          storage,
          key: dataObject(ctx.instanceId, req.backupId),
          dataKey,
          compression: checked.compression,
          signal: op.signal,
          onRawBytes,
        }),
    };
    const { saved, datastoreVersion, facts, nativeWhat, afterStored } = await body(run);
    const artifact: BackupArtifact = {
      backupId: req.backupId,
      instanceId: ctx.instanceId,
      datastore: o.datastore,
      datastoreVersion,
      type: checked.incremental ? BackupType.INCREMENTAL : BackupType.FULL,
      parentId: checked.parent?.backupId ?? '',
      ...saved,
      compression: checked.compression,
      encryption: ENCRYPTION,
      wrappedKey: wrapDataKey(dataKey, checked.wrappingKey, req.backupId),
      keyRef: checked.keyRef,
      facts,
      createdAt,
      finishedAt: new Date().toISOString(),
    };
    op.progress(97, 'recording metadata');
    await writeMeta(storage, artifact);
    const more = afterStored ? await afterStored(artifact) : '';
    op.progress(100, `stored ${saved.size} bytes (${saved.rawSize} ${nativeWhat ?? 'native'})${more}`);
    return artifact;
  } catch (err) {
    // A failed backup leaves nothing: the controller records FAILED, storage holds no trace.
    await discardBackup(storage, ctx.instanceId, req.backupId).catch((e: Error) =>
      ctx.log.warn({ backupId: req.backupId, err: e.message }, 'could not remove the objects of a failed backup'),
    );
    throw err;
  } finally {
    forget(dataKey);
    await rm(workDir, { recursive: true, force: true });
    await rmdir(dirname(workDir)).catch(() => undefined); // only when no other backup is using it
    storage.close();
  }
}
