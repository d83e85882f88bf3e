// Encryption stage: libsodium's secretstream (XChaCha20-Poly1305), the
// library's own framing, not ours. The stream is the 24-byte header followed by
// records, each one message of RECORD_PLAINTEXT bytes sealed with its tag; the
// last record (possibly empty) carries TAG_FINAL. Every record is
// authenticated and ordered, and a stream cut short lacks its final tag, so
// reordering, truncation and bit flips are all refused on the way back.
//
// Speed. Records are sealed straight from the incoming chunks (only a record
// split across chunks is copied) into a batch of several records, pushed on as
// one chunk: downstream (checksum, storage) sees a few hundred chunks per GiB
// instead of one per record.
import { Transform, type TransformCallback } from 'node:stream';
import sodium from 'sodium-native';
import { StewardError } from '../errors.js';

/** Plaintext bytes per record; part of the stored format (see ENCRYPTION). */
export const RECORD_PLAINTEXT = 64 * 1024;
export const ENCRYPTION = `libsodium-secretstream-xchacha20poly1305/${RECORD_PLAINTEXT}`;

const HEADER = sodium.crypto_secretstream_xchacha20poly1305_HEADERBYTES;
const ABYTES = sodium.crypto_secretstream_xchacha20poly1305_ABYTES;
const STATEBYTES = sodium.crypto_secretstream_xchacha20poly1305_STATEBYTES;
const RECORD = RECORD_PLAINTEXT + ABYTES;
const TAG_MESSAGE = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
const TAG_FINAL = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL;

/** Records per output chunk (about 1 MiB): memory per stage stays one batch whatever the backup's size. */
export const BATCH_RECORDS = 16;

/**
 * Output chunks to reuse. A chunk the encryption pushed on is handed back with
 * `release` by whoever ends up holding it, once it is done with it (the
 * filesystem storage, after writing it); chunks never released are simply
 * garbage collected. Reuse spares the allocator and the garbage collector a
 * gigabyte of short-lived buffers per gigabyte of backup.
 */
export class ChunkPool {
  private readonly free: Buffer[] = [];
  private readonly mine = new WeakMap<ArrayBufferLike, Buffer>();

  constructor(
    readonly size: number,
    private readonly keep = 8,
  ) {}

  take(): Buffer {
    const b = this.free.pop();
    if (b) return b;
    const fresh = Buffer.allocUnsafeSlow(this.size); // its own ArrayBuffer: `release` recognises it by that
    this.mine.set(fresh.buffer, fresh);
    return fresh;
  }

  /** Hands back a chunk (or any view of it) for reuse; anything else is ignored. */
  release = (chunk: Buffer): void => {
    const whole = this.mine.get(chunk.buffer);
    if (whole && this.free.length < this.keep && !this.free.includes(whole)) this.free.push(whole);
  };
}

export interface CipherStreamOptions {
  /** Records per output chunk; 1 gives one chunk per record. */
  batchRecords?: number;
  /** Where output chunks come from (see ChunkPool); its size must be batchBytes(batchRecords). */
  pool?: ChunkPool;
}

/** Bytes of one output chunk of encryptStream, at most. */
export const batchBytes = (batchRecords = BATCH_RECORDS): number => HEADER + Math.max(1, batchRecords) * RECORD;

export function encryptStream(dataKey: Buffer, opts: CipherStreamOptions = {}): Transform {
  const state = Buffer.alloc(STATEBYTES);
  const header = Buffer.alloc(HEADER);
  sodium.crypto_secretstream_xchacha20poly1305_init_push(state, header, dataKey);
  const size = batchBytes(opts.batchRecords);
  if (opts.pool && opts.pool.size !== size) throw new Error(`a pool of ${opts.pool.size}-byte chunks for ${size}-byte batches`);
  const alloc = opts.pool ? () => opts.pool!.take() : () => Buffer.allocUnsafe(size);
  // The plaintext of a record that spans chunks: one record whatever the backup's size.
  const pending = Buffer.alloc(RECORD_PLAINTEXT);
  let filled = 0;
  // The batch being filled; a fresh one once it has been pushed on (downstream owns what it was given).
  let out: Buffer | undefined;
  let used = 0;
  const take = (n: number): Buffer => {
    out ??= alloc();
    used += n;
    return out.subarray(used - n, used);
  };
  const emit = (t: Transform) => {
    if (out && used > 0) t.push(out.subarray(0, used));
    out = undefined;
    used = 0;
  };
  const seal = (t: Transform, plain: Buffer, tag: number) => {
    if (out && used + plain.length + ABYTES > out.length) emit(t);
    sodium.crypto_secretstream_xchacha20poly1305_push(state, take(plain.length + ABYTES), plain, null, tag);
  };
  header.copy(take(HEADER));
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      let offset = 0;
      if (filled > 0) {
        offset = Math.min(RECORD_PLAINTEXT - filled, chunk.length);
        chunk.copy(pending, filled, 0, offset);
        filled += offset;
        // Full records are sealed at once; only the remainder (maybe empty) waits for the final tag.
        if (filled === RECORD_PLAINTEXT) {
          seal(this, pending, TAG_MESSAGE);
          filled = 0;
        }
      }
      for (; chunk.length - offset >= RECORD_PLAINTEXT; offset += RECORD_PLAINTEXT) {
        seal(this, chunk.subarray(offset, offset + RECORD_PLAINTEXT), TAG_MESSAGE);
      }
      if (offset < chunk.length) {
        chunk.copy(pending, filled, offset);
        filled += chunk.length - offset;
      }
      if (out && used + RECORD > out.length) emit(this);
      cb();
    },
    flush(cb: TransformCallback) {
      seal(this, pending.subarray(0, filled), TAG_FINAL);
      emit(this);
      sodium.sodium_memzero(pending);
      sodium.sodium_memzero(state);
      cb();
    },
  });
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
