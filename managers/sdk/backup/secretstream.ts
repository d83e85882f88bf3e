// Encryption stage: libsodium's secretstream (XChaCha20-Poly1305), the
// library's own framing, not ours. The stream is the 24-byte header followed by
// records, each one message of RECORD_PLAINTEXT bytes sealed with its tag; the
// last record (possibly empty) carries TAG_FINAL. Every record is
// authenticated and ordered, and a stream cut short lacks its final tag, so
// reordering, truncation and bit flips are all refused on the way back.
import { Transform, type TransformCallback } from 'node:stream';
import sodium from 'sodium-native';
import { StewardError } from '../errors.js';

/** Plaintext bytes per record; part of the stored format (see ENCRYPTION). */
export const RECORD_PLAINTEXT = 64 * 1024;
export const ENCRYPTION = `libsodium-secretstream-xchacha20poly1305/${RECORD_PLAINTEXT}`;

const HEADER = sodium.crypto_secretstream_xchacha20poly1305_HEADERBYTES;
const ABYTES = sodium.crypto_secretstream_xchacha20poly1305_ABYTES;
const RECORD = RECORD_PLAINTEXT + ABYTES;
const TAG_MESSAGE = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
const TAG_FINAL = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL;

export function encryptStream(dataKey: Buffer): Transform {
  const state = Buffer.alloc(sodium.crypto_secretstream_xchacha20poly1305_STATEBYTES);
  const header = Buffer.alloc(HEADER);
  sodium.crypto_secretstream_xchacha20poly1305_init_push(state, header, dataKey);
  // One reusable plaintext buffer: memory per stage is one record whatever the backup's size.
  const pending = Buffer.alloc(RECORD_PLAINTEXT);
  let filled = 0;
  let headerSent = false;
  const seal = (plain: Buffer, tag: number): Buffer => {
    const out = Buffer.allocUnsafe(plain.length + ABYTES);
    sodium.crypto_secretstream_xchacha20poly1305_push(state, out, plain, null, tag);
    return out;
  };
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      if (!headerSent) {
        this.push(header);
        headerSent = true;
      }
      let offset = 0;
      while (offset < chunk.length) {
        const n = Math.min(RECORD_PLAINTEXT - filled, chunk.length - offset);
        chunk.copy(pending, filled, offset, offset + n);
        filled += n;
        offset += n;
        // Full records are sealed at once; only the remainder (maybe empty) waits for the final tag.
        if (filled === RECORD_PLAINTEXT) {
          this.push(seal(pending, TAG_MESSAGE));
          filled = 0;
        }
      }
      cb();
    },
    flush(cb: TransformCallback) {
      if (!headerSent) this.push(header);
      this.push(seal(pending.subarray(0, filled), TAG_FINAL));
      sodium.sodium_memzero(pending);
      sodium.sodium_memzero(state);
      cb();
    },
  });
}

const corrupt = (what: string) =>
  new StewardError('FAILED_PRECONDITION', `backup data does not decrypt: ${what} (corrupt, truncated or encrypted with another key)`);

export function decryptStream(dataKey: Buffer): Transform {
  const state = Buffer.alloc(sodium.crypto_secretstream_xchacha20poly1305_STATEBYTES);
  // Records arrive in arbitrary chunk sizes: gather into one record-sized buffer.
  const pending = Buffer.alloc(RECORD);
  let filled = 0;
  let headerRead = false;
  let finished = false;
  const tag = Buffer.alloc(1);
  const open = (record: Buffer): Buffer => {
    if (finished) throw corrupt('data after the final record');
    const out = Buffer.allocUnsafe(record.length - ABYTES);
    try {
      sodium.crypto_secretstream_xchacha20poly1305_pull(state, out, tag, record, null);
    } catch {
      throw corrupt('a record failed authentication');
    }
    if (tag[0] === TAG_FINAL) finished = true;
    return out;
  };
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      try {
        let offset = 0;
        while (offset < chunk.length) {
          const want = headerRead ? RECORD : HEADER;
          const n = Math.min(want - filled, chunk.length - offset);
          chunk.copy(pending, filled, offset, offset + n);
          filled += n;
          offset += n;
          if (filled < want) break;
          if (!headerRead) {
            sodium.crypto_secretstream_xchacha20poly1305_init_pull(state, pending.subarray(0, HEADER), dataKey);
            headerRead = true;
            filled = 0;
            continue;
          }
          // A full-size record is never the last one (the final record is shorter), unless the input ends exactly here;
          // hold it back until we know which.
          if (offset < chunk.length) {
            this.push(open(pending));
            filled = 0;
          }
        }
        cb();
      } catch (err) {
        cb(err as Error);
      }
    },
    flush(cb: TransformCallback) {
      try {
        if (!headerRead) throw corrupt('the stream is shorter than its header');
        if (filled > 0) {
          if (filled < ABYTES) throw corrupt('the last record is cut short');
          const out = open(pending.subarray(0, filled));
          if (out.length) this.push(out);
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
