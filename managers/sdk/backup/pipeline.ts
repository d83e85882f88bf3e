// The backup pipeline every strategy shares:
//   native tool output -> compression -> encryption -> sha256 -> storage
// and back. Node streams with backpressure all the way: each stage holds at
// most its highWaterMark, the encryption a bounded number of 1 MiB buffers
// (secretstream.ts), the S3 uploader at most partSize x queueSize, so memory
// does not grow with the backup's size.
//
// Where the time goes, per GiB on the bench machine (2 cores): libsodium's
// secretstream about 1.2 s of CPU, sha256 about 1 s, the tool's pipe and the
// file writes a few tenths each. Encryption and sha256 therefore run in two
// worker threads (sealStream), the event loop only moves bytes, the writes go
// to libuv's pool, and the disk flushes while the backup runs
// (storage/filesystem.ts), so the closing fsync has little left to do.
//
// Restore is verify-then-stream: the stored object is first downloaded to a
// staging file while its sha256 and size are checked against the recorded
// ones; only a verified file is decrypted (each record authenticated again)
// and decompressed into the native tool. Nothing reaches the datastore from an
// object that does not match what was recorded. The price is local disk for
// the stored (compressed) size; the gain is that a corrupt backup is refused
// before the data directory is touched, not half way through it.
import { createReadStream, createWriteStream } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BackupArtifact, BackupKeyGrant } from '../../../proto/gen/steward/v1/backups.js';
import { StewardError, invalidArgument } from '../errors.js';
import { checkCompression, compressStage, decompressStage, type Compression } from './compression.js';
import { tap } from './digest.js';
import { unwrapDataKey } from './keys.js';
import { ENCRYPTION, decryptStream, sealStream } from './secretstream.js';
import { backupPrefix } from './layout.js';
import type { ObjectStorage } from './storage/storage.js';

export interface SaveOptions {
  source: Readable;
  storage: ObjectStorage;
  key: string;
  dataKey: Buffer;
  compression: Compression;
  signal: AbortSignal;
  /** Native bytes read so far (progress). */
  onRawBytes?: (bytes: number) => void;
}

export interface Saved {
  size: number;
  rawSize: number;
  checksum: string;
  location: string;
}

/**
 * A tool's stdout whose end waits for the tool's exit status: a tool that
 * fails after writing a well-formed-looking stream must fail the backup before
 * the storage makes the object visible.
 */
export function gatedByExit(output: Readable, exited: Promise<void>): Readable {
  const gate = new Transform({
    highWaterMark: 1, // objects: pass chunks through without a second buffer
    transform(chunk: Buffer, _enc, cb) {
      cb(null, chunk);
    },
    flush(cb) {
      exited.then(() => cb(), (err: Error) => cb(err));
    },
  });
  exited.catch((err: Error) => gate.destroy(err));
  output.on('error', (err) => gate.destroy(err));
  return output.pipe(gate);
}

export async function saveStream(o: SaveOptions): Promise<Saved> {
  const stop = new AbortController();
  const signal = AbortSignal.any([o.signal, stop.signal]);
  const raw = tap({ onBytes: o.onRawBytes });
  // Encryption and checksum run in worker threads; encrypted batches go back for reuse once the storage has
  // written them (the filesystem hands them back; S3 keeps them, and they are garbage collected).
  const sealed = sealStream(o.dataKey);
  const compress = o.compression === 'none' ? [] : [compressStage(o.compression, signal)];
  const flowing = pipeline([o.source, raw, ...compress, sealed], { signal });
  const writing = o.storage.put(o.key, sealed, signal, { written: sealed.release });
  // Whichever side fails first stops the other, so neither waits forever on a dead peer.
  flowing.catch((err: unknown) => stop.abort(err));
  writing.catch((err: unknown) => stop.abort(err));
  // Both settle before we answer, so a failed write has removed its temporary object by then.
  const [f, w] = await Promise.allSettled([flowing, writing]);
  if (f.status === 'rejected' || w.status === 'rejected') {
    throw (f.status === 'rejected' ? f.reason : (w as PromiseRejectedResult).reason) as Error;
  }
  const size = w.value;
  if (size !== sealed.bytes) throw new StewardError('INTERNAL', `storage reports ${size} bytes stored, the pipeline sent ${sealed.bytes}`);
  return { size, rawSize: raw.bytes, checksum: sealed.checksum(), location: o.storage.uri(o.key) };
}

/** Removes every object of a backup, partial ones included (after a failure, or on delete). */
export async function discardBackup(storage: ObjectStorage, instanceId: string, backupId: string): Promise<void> {
  await storage.deletePrefix(backupPrefix(instanceId, backupId));
}

const corrupt = (a: BackupArtifact, what: string) =>
  new StewardError('FAILED_PRECONDITION', `backup ${a.backupId} is corrupt or incomplete in storage: ${what}; nothing was restored from it`);

/** Downloads a backup's stored object to `stagingFile`, refusing it unless size and sha256 match the record. */
export async function fetchVerified(o: {
  storage: ObjectStorage;
  artifact: BackupArtifact;
  stagingFile: string;
  signal: AbortSignal;
  onBytes?: (bytes: number) => void;
}): Promise<void> {
  const a = o.artifact;
  if (!/^sha256:[0-9a-f]{64}$/.test(a.checksum)) throw invalidArgument('artifact.checksum', 'must be "sha256:<64 hex digits>"');
  const got = tap({ hash: true, offThread: true, onBytes: o.onBytes });
  try {
    const body = await o.storage.get(o.storage.keyOf(a.location), o.signal);
    await pipeline(body, got, createWriteStream(o.stagingFile, { flags: 'wx', mode: 0o600 }), { signal: o.signal });
    if (got.bytes !== a.size) throw corrupt(a, `${got.bytes} bytes stored, ${a.size} recorded`);
    if (got.checksum() !== a.checksum) throw corrupt(a, `checksum ${got.checksum()} does not match the recorded ${a.checksum}`);
  } catch (err) {
    await unlink(o.stagingFile).catch(() => undefined);
    throw err;
  }
}

/** The data key of a backup, unwrapped with the key the controller granted for it. */
export function dataKeyOf(a: BackupArtifact, grant: BackupKeyGrant | undefined): Buffer {
  if (!grant?.wrappingKey?.length) throw invalidArgument('key', `backup ${a.backupId}: no key was granted`);
  if (a.encryption !== ENCRYPTION) throw invalidArgument('artifact.encryption', `backup ${a.backupId} uses "${a.encryption}", this agent reads ${ENCRYPTION}`);
  return unwrapDataKey(Buffer.from(a.wrappedKey), Buffer.from(grant.wrappingKey), a.backupId);
}

/** The native bytes of a verified staging file: decrypted, then decompressed. */
export function openVerified(stagingFile: string, a: BackupArtifact, dataKey: Buffer, signal: AbortSignal): Readable {
  const out = new PassThrough();
  pipeline(
    createReadStream(stagingFile, { highWaterMark: 256 * 1024 }),
    decryptStream(dataKey),
    decompressStage(checkCompression(a.compression, 'artifact.compression'), signal),
    out,
    { signal },
  ).catch((err: Error) => out.destroy(err));
  return out;
}
