// Encryption stage: libsodium's secretstream (XChaCha20-Poly1305), the
// library's own framing, not ours. The stream is the 24-byte header followed by
// records, each one message of RECORD_PLAINTEXT bytes sealed with its tag; the
// last record (possibly empty) carries TAG_FINAL. Every record is
// authenticated and ordered, and a stream cut short lacks its final tag, so
// reordering, truncation and bit flips are all refused on the way back.
//
// Backups encrypt with sealStream: records sealed in a worker thread
// (secretstream-cipher.cjs) straight from the incoming data (only a record
// split across chunks is copied) into batches of several records, each passed
// on as one chunk, so downstream sees a few hundred chunks per GiB instead of
// one per record; their sha256 is computed in a second worker. Decryption
// (restores) runs on the event loop, record by record as libsodium reads them.
import { Duplex, Transform, type TransformCallback } from 'node:stream';
import { MessageChannel, Worker } from 'node:worker_threads';
import sodium from 'sodium-native';
import { StewardError } from '../errors.js';
import { assetUrl } from '../assets.js';

/** Plaintext bytes per record; part of the stored format (see ENCRYPTION). */
export const RECORD_PLAINTEXT = 64 * 1024;
export const ENCRYPTION = `libsodium-secretstream-xchacha20poly1305/${RECORD_PLAINTEXT}`;

const HEADER = sodium.crypto_secretstream_xchacha20poly1305_HEADERBYTES;
const ABYTES = sodium.crypto_secretstream_xchacha20poly1305_ABYTES;
const STATEBYTES = sodium.crypto_secretstream_xchacha20poly1305_STATEBYTES;
const RECORD = RECORD_PLAINTEXT + ABYTES;
const TAG_FINAL = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL;

/** Records per output chunk (about 1 MiB): memory per stage stays one batch whatever the backup's size. */
const BATCH_RECORDS = 16;

/** Bytes of one output chunk of sealStream, at most: the header and a batch of records. */
const batchBytes = (batchRecords = BATCH_RECORDS): number => HEADER + Math.max(1, batchRecords) * RECORD;

// ---------------------------------------------------------------------------
// sealStream: the encrypted stream and its sha256, computed in two worker
// threads. On the bench machine the cipher costs about 1.2 s of CPU per GiB
// and sha256 about 1 s; on the event loop they left it no time to read the
// tool's pipe and write the file, and either one alone is nearly as slow as the
// tool. So the work is a relay:
//
//   event loop --staging--> cipher worker --batches--> hash worker --batches--> event loop -> storage
//        ^                        |   ^                                                      |
//        +------ staging ---------+   +------------ batches, once written (reuse) -----------+
//
// Buffers move between threads by transfer, never by copy; the one copy is of
// the incoming chunks into 1 MiB staging buffers. Memory is bounded by
// IN_FLIGHT_BYTES between the event loop's intake and output, plus the
// readable side's high-water mark and what the storage holds, whatever the
// backup's size.

const STAGING_BYTES = 1024 * 1024;
/** Plaintext handed to the workers and not yet back as ciphertext, at most (about). */
const IN_FLIGHT_BYTES = 6 * STAGING_BYTES;

export interface SealOptions {
  /** Records per output chunk; 1 gives one chunk per record. */
  batchRecords?: number;
  /** Called with the plaintext bytes taken in so far. */
  onInput?: (total: number) => void;
  /** The stream ends (and so the stored object completes) only once this resolves; its rejection fails the stream. */
  until?: Promise<void>;
}

export interface SealStream extends Duplex {
  /** Bytes of ciphertext passed on so far. */
  readonly bytes: number;
  /** Bytes of plaintext taken in so far. */
  readonly inputBytes: number;
  /** "sha256:<hex>" of everything passed on; call once the stream has ended. */
  checksum(): string;
  /** Hands an output chunk back for reuse once the storage is done with it (PutOptions.written). */
  release(chunk: Buffer): void;
}

/** Encrypts what it is written (libsodium secretstream, above) and hashes the output, in two worker threads. */
export function sealStream(dataKey: Buffer, opts: SealOptions = {}): SealStream {
  const size = batchBytes(opts.batchRecords);
  // The key travels in shared memory the cipher worker wipes once it has its own copy: none stays behind.
  const key = new Uint8Array(new SharedArrayBuffer(dataKey.length));
  key.set(dataKey);
  const { port1, port2 } = new MessageChannel();
  // The workers allocate little on their heaps: small generations keep their memory small.
  // Plain CommonJS files next to this one: no tsx in the workers (execArgv), nothing to transpile.
  const common = {
    execArgv: [] as string[],
    stdout: false,
    stderr: false,
    resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 64 },
  };
  const cipher = new Worker(assetUrl('managers/sdk/backup/secretstream-cipher.cjs'), {
    ...common,
    workerData: { key, next: port1, recordPlaintext: RECORD_PLAINTEXT, batchBytes: size },
    transferList: [port1],
  });
  const hasher = new Worker(assetUrl('managers/sdk/backup/secretstream-hash.cjs'), { ...common, workerData: { prev: port2 }, transferList: [port2] });

  const free: ArrayBuffer[] = []; // staging buffers back from the cipher worker
  let cur: Buffer | undefined;
  let curUsed = 0;
  let sent = 0; // plaintext bytes handed to the cipher worker
  let inputBytes = 0;
  let bytes = 0; // ciphertext bytes back from the hash worker
  let digest: string | undefined;
  let failed: Error | undefined;
  const outputs = new WeakSet<ArrayBuffer>();
  // False once push() says the reader is a high-water mark behind, true again when it asks for more (_read).
  let readerWants = true;
  // A write waiting for room in flight (or a staging buffer), or for the reader to catch up.
  let waitingForRoom: (() => void) | undefined;
  let waitingForReader: (() => void) | undefined;
  let ended: (() => void) | undefined;

  const wake = (w: (() => void) | undefined) => w?.();
  const send = () => {
    const b = cur!;
    cipher.postMessage({ data: b.buffer, n: curUsed }, [b.buffer as ArrayBuffer]);
    sent += curUsed;
    cur = undefined;
    curUsed = 0;
  };
  // Ciphertext is a little longer than its plaintext: this errs on the side of less in flight.
  const room = () => sent - bytes < IN_FLIGHT_BYTES;
  const stage = (): boolean => {
    if (!cur) {
      const ab = free.pop() ?? (room() ? new ArrayBuffer(STAGING_BYTES) : undefined);
      if (!ab) return false;
      cur = Buffer.from(ab);
    }
    return true;
  };

  const duplex = new Duplex({
    readableHighWaterMark: 2 * size,
    writableHighWaterMark: STAGING_BYTES,
    write(chunk: Buffer, _enc, cb) {
      inputBytes += chunk.length;
      opts.onInput?.(inputBytes);
      let offset = 0;
      const more = (): void => {
        if (failed) return cb(failed);
        for (;;) {
          if (curUsed === STAGING_BYTES) {
            if (!room()) {
              waitingForRoom = more; // the full staging buffer goes once the workers catch up
              return;
            }
            send();
          }
          if (offset === chunk.length) break;
          if (!stage()) {
            waitingForRoom = more;
            return;
          }
          const n = chunk.copy(cur!, curUsed, offset);
          curUsed += n;
          offset += n;
        }
        // The consumer is behind: take nothing more until it reads.
        if (readerWants) cb();
        else waitingForReader = () => cb();
      };
      more();
    },
    final(cb) {
      Promise.resolve(opts.until).then(
        () => {
          if (failed) return cb(failed);
          if (cur && curUsed > 0) send();
          ended = () => cb();
          cipher.postMessage({ end: true });
        },
        (err: Error) => cb(err),
      );
    },
    read() {
      readerWants = true;
      const w = waitingForReader;
      waitingForReader = undefined;
      wake(w);
    },
    destroy(err, cb) {
      key.fill(0);
      void cipher.terminate();
      void hasher.terminate();
      cb(err);
    },
  }) as SealStream;

  const resumeRoom = () => {
    const w = waitingForRoom;
    waitingForRoom = undefined;
    wake(w);
  };
  cipher.on('message', (m: { back: ArrayBuffer }) => {
    free.push(m.back);
    resumeRoom();
  });
  hasher.on('message', (m: { out?: ArrayBuffer; n?: number; digest?: string }) => {
    if (m.out) {
      outputs.add(m.out);
      bytes += m.n!;
      readerWants = duplex.push(Buffer.from(m.out, 0, m.n));
      resumeRoom();
    } else if (m.digest) {
      digest = `sha256:${m.digest}`;
      duplex.push(null);
      void cipher.terminate();
      void hasher.terminate();
      ended?.();
    }
  });
  const fail = (err: Error) => {
    failed ??= err;
    duplex.destroy(failed);
  };
  for (const [w, what] of [
    [cipher, 'encryption'],
    [hasher, 'checksum'],
  ] as const) {
    w.on('error', fail);
    w.on('exit', (code) => {
      if (!digest) fail(new Error(`the ${what} worker exited (${code}) before the stream ended`));
    });
  }

  opts.until?.catch((err: Error) => duplex.destroy(err));
  Object.defineProperty(duplex, 'bytes', { get: () => bytes });
  Object.defineProperty(duplex, 'inputBytes', { get: () => inputBytes });
  duplex.checksum = () => {
    if (!digest) throw new Error('the checksum is known only once the stream has ended');
    return digest;
  };
  duplex.release = (chunk: Buffer) => {
    const ab = chunk.buffer as ArrayBuffer;
    if (!digest && !failed && outputs.has(ab)) {
      outputs.delete(ab);
      cipher.postMessage({ spare: ab }, [ab]);
    }
  };
  return duplex;
}

const corrupt = (what: string) =>
  new StewardError('FAILED_PRECONDITION', `backup data does not decrypt: ${what} (corrupt, truncated or encrypted with another key)`);

export function decryptStream(dataKey: Buffer): Transform {
  const state = Buffer.alloc(STATEBYTES);
  // A record (or the header) that spans chunks is gathered here; whole records are opened in place.
  const pending = Buffer.alloc(RECORD);
  let filled = 0;
  let headerRead = false;
  let finished = false;
  const tag = Buffer.alloc(1);
  // All the records one chunk completes are opened into one output buffer.
  let out: Buffer | undefined;
  let used = 0;
  const open = (record: Buffer) => {
    if (finished) throw corrupt('data after the final record');
    if (record.length < ABYTES) throw corrupt('the last record is cut short');
    const m = out!.subarray(used, used + record.length - ABYTES);
    try {
      sodium.crypto_secretstream_xchacha20poly1305_pull(state, m, tag, record, null);
    } catch {
      throw corrupt('a record failed authentication');
    }
    used += m.length;
    if (tag[0] === TAG_FINAL) finished = true;
  };
  const emit = (t: Transform) => {
    if (out && used > 0) t.push(out.subarray(0, used));
    out = undefined;
    used = 0;
  };
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      try {
        let offset = 0;
        if (!headerRead) {
          const n = Math.min(HEADER - filled, chunk.length);
          chunk.copy(pending, filled, 0, n);
          filled += n;
          offset = n;
          if (filled < HEADER) return cb();
          sodium.crypto_secretstream_xchacha20poly1305_init_pull(state, pending.subarray(0, HEADER), dataKey);
          headerRead = true;
          filled = 0;
        }
        // A full-size record is never the last one (the final record is shorter), unless the input ends exactly
        // where it does: a record is opened only once a byte after it has arrived.
        const records = Math.floor((filled + chunk.length - offset - 1) / RECORD);
        if (records > 0) out = Buffer.allocUnsafe(records * RECORD_PLAINTEXT);
        if (filled > 0 && filled + chunk.length - offset > RECORD) {
          const n = RECORD - filled;
          chunk.copy(pending, filled, offset, offset + n);
          offset += n;
          filled = 0;
          open(pending);
        }
        while (filled === 0 && chunk.length - offset > RECORD) {
          open(chunk.subarray(offset, offset + RECORD));
          offset += RECORD;
        }
        emit(this);
        chunk.copy(pending, filled, offset);
        filled += chunk.length - offset;
        cb();
      } catch (err) {
        out = undefined;
        cb(err as Error);
      }
    },
    flush(cb: TransformCallback) {
      try {
        if (!headerRead) throw corrupt('the stream is shorter than its header');
        if (filled > 0) {
          out = Buffer.allocUnsafe(Math.max(0, filled - ABYTES));
          open(pending.subarray(0, filled));
          emit(this);
        }
        if (!finished) throw corrupt('the final record is missing');
        sodium.sodium_memzero(state);
        cb();
      } catch (err) {
        cb(err as Error);
      }
    },
  });
}
