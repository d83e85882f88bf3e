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
import { readFile, unlink } from 'node:fs/promises';
import { Socket } from 'node:net';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BackupArtifact, BackupKeyGrant } from '../../../proto/gen/steward/v1/backups.js';
import { StewardError, invalidArgument } from '../errors.js';
import { spawnStage } from './child-stream.js';
import { ZSTD, ZSTD_COMPRESS_COUNTING, checkCompression, compressStage, decompressStage, zstdCountsBytes, zstdSizes, type Compression } from './compression.js';
import { tap, type Tap } from './digest.js';
import { unwrapDataKey } from './keys.js';
import { ENCRYPTION, decryptStream, sealStream, type SealStream } from './secretstream.js';
import { backupPrefix } from './layout.js';
import type { ObjectStorage } from './storage/storage.js';
import { scopedSignal } from '../signals.js';

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

const TOOL_OUTPUT = Symbol('steward.backup.toolOutput');

interface ToolOutput {
  output: Readable;
  exited: Promise<void>;
  /** Hands the untouched output over to the caller instead of the gate; false once it is connected. */
  take(): boolean;
}

/**
 * A tool's stdout whose end waits for the tool's exit status: a tool that
 * fails after writing a well-formed-looking stream must fail the backup before
 * the storage makes the object visible.
 *
 * The output is connected to the gate on the next tick, so that saveStream,
 * given the gate in the same tick, may instead hand the tool's output straight
 * to zstd (one process writing into the other, nothing through ours).
 */
export function gatedByExit(output: Readable, exited: Promise<void>): Readable {
  let state: 'pending' | 'connected' | 'taken' = 'pending';
  const gate = new Transform({
    highWaterMark: 1, // pass chunks through without a second buffer
    transform(chunk: Buffer, _enc, cb) {
      cb(null, chunk);
    },
    flush(cb) {
      exited.then(
        () => cb(),
        (err: Error) => cb(err),
      );
    },
  });
  exited.catch((err: Error) => state !== 'taken' && gate.destroy(err));
  output.on('error', (err) => state !== 'taken' && gate.destroy(err));
  process.nextTick(() => {
    if (state !== 'pending') return;
    state = 'connected';
    output.pipe(gate);
  });
  const tool: ToolOutput = { output, exited, take: () => state === 'pending' && ((state = 'taken'), true) };
  Object.defineProperty(gate, TOOL_OUTPUT, { value: tool });
  return gate;
}

/** The output of the tool behind a gate, when nothing has read from it yet and it can be handed to another process. */
function takeToolOutput(source: Readable): ToolOutput | undefined {
  const tool = (source as { [TOOL_OUTPUT]?: ToolOutput })[TOOL_OUTPUT];
  const out = tool?.output;
  if (!(out instanceof Socket) || out.bytesRead > 0 || out.readableLength > 0 || out.destroyed || out.readableEnded) return undefined;
  if (!(out as unknown as { _handle?: unknown })._handle) return undefined; // not a descriptor another process can use
  return tool!.take() ? tool : undefined;
}

/**
 * zstd reading the tool's output directly: zstd's stdin is the tool's stdout.
 * Bytes read by zstd are reported (from /proc, roughly) while it runs; the
 * exact count comes from zstd's closing line, checked against the compressed
 * bytes we received.
 */
function spliceZstd(tool: ToolOutput, signal: AbortSignal, onRawBytes?: (bytes: number) => void) {
  const z = spawnStage({ command: ZSTD, args: ZSTD_COMPRESS_COUNTING }, signal, { stdin: tool.output });
  tool.output.destroy(); // zstd has its own copy of the descriptor; ours must not read a byte
  const timer = onRawBytes
    ? setInterval(() => {
        readFile(`/proc/${z.pid}/io`, 'utf8').then(
          (io) => onRawBytes(Number(/^rchar: (\d+)$/m.exec(io)?.[1] ?? 0)),
          () => undefined,
        );
      }, 1_000).unref()
    : undefined;
  return {
    output: z.output,
    /** Both processes exited well: until then the stored object must not complete. */
    exited: Promise.all([tool.exited, z.exited]).then(() => undefined),
    done: () => clearInterval(timer),
    rawBytes(compressed: number): number {
      const sizes = zstdSizes(z.stderrTail());
      if (!sizes || sizes.compressed !== compressed) {
        throw new StewardError('INTERNAL', `zstd's closing line does not give the sizes of this stream (${compressed} bytes received)`);
      }
      onRawBytes?.(sizes.raw);
      return sizes.raw;
    },
  };
}

export async function saveStream(o: SaveOptions): Promise<Saved> {
  const stop = new AbortController();
  const scope = scopedSignal([o.signal, stop.signal]);
  const { signal } = scope;
  let spliced: ReturnType<typeof spliceZstd> | undefined;
  let sealed: SealStream | undefined;
  let raw: Tap | undefined;
  let flowing: Promise<void>;
  // zstd on a tool's output: the tool writes into zstd, and only compressed bytes come through this process.
  const tool = o.compression === 'zstd' && zstdCountsBytes() ? takeToolOutput(o.source) : undefined;
  try {
    spliced = tool && spliceZstd(tool, signal, o.onRawBytes);
    // Encryption and checksum run in worker threads (secretstream.ts); encrypted batches go back for reuse once the
    // storage has written them (the filesystem hands them back; S3 keeps them, and they are garbage collected).
    if (spliced) {
      sealed = sealStream(o.dataKey, { until: spliced.exited });
      flowing = pipeline([spliced.output, sealed], { signal }).finally(spliced.done);
    } else if (o.compression === 'none') {
      sealed = sealStream(o.dataKey, { onInput: o.onRawBytes });
      flowing = pipeline([o.source, sealed], { signal });
    } else {
      sealed = sealStream(o.dataKey);
      raw = tap({ onBytes: o.onRawBytes });
      flowing = pipeline([o.source, raw, compressStage(o.compression, signal), sealed], { signal });
    }
  } catch (err) {
    // zstd (killed through the signal), its progress timer, and the workers.
    stop.abort(err);
    spliced?.done();
    sealed?.destroy();
    scope.dispose();
    throw err;
  }
  const seal = sealed;
  const writing = o.storage.put(o.key, seal, signal, { written: seal.release });
  // Whichever side fails first stops the other, so neither waits forever on a dead peer; the first
  // failure is the one reported (the other side's is only the abort it caused: "operation aborted"
  // instead of the storage's ENOTDIR would hide the reason).
  let first: unknown;
  const failed = (err: unknown) => {
    first ??= err;
    stop.abort(err);
  };
  flowing.catch(failed);
  writing.catch(failed);
  // Both settle before we answer, so a failed write has removed its temporary object by then.
  const [f, w] = await Promise.allSettled([flowing, writing]);
  scope.dispose();
  if (f.status === 'rejected' || w.status === 'rejected') {
    throw (first ?? (f.status === 'rejected' ? f.reason : (w as PromiseRejectedResult).reason)) as Error;
  }
  const size = w.value;
  if (size !== seal.bytes) throw new StewardError('INTERNAL', `storage reports ${size} bytes stored, the pipeline sent ${seal.bytes}`);
  const rawSize = spliced ? spliced.rawBytes(seal.inputBytes) : raw ? raw.bytes : seal.inputBytes;
  return { size, rawSize, checksum: seal.checksum(), location: o.storage.uri(o.key) };
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
