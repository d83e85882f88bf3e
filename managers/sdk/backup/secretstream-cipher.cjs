// The cipher worker of sealStream (secretstream.ts): seals the staging buffers
// it is sent into libsodium secretstream records, batched into chunks of
// workerData.batchBytes, and passes each batch on to the hash worker
// (workerData.next). Staging buffers go back to the event loop once sealed;
// batches the storage has written come back as spares for reuse.
// Plain CommonJS, run without tsx: nothing to transpile in a worker.
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const sodium = require('sodium-native');

const RECORD_PLAINTEXT = workerData.recordPlaintext;
const BATCH_BYTES = workerData.batchBytes;
/** Spare batches kept for reuse, at most. */
const SPARES = 8;
const ABYTES = sodium.crypto_secretstream_xchacha20poly1305_ABYTES;
const TAG_MESSAGE = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
const TAG_FINAL = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL;

const next = workerData.next;
const state = Buffer.alloc(sodium.crypto_secretstream_xchacha20poly1305_STATEBYTES);
const header = Buffer.alloc(sodium.crypto_secretstream_xchacha20poly1305_HEADERBYTES);
const key = Buffer.from(workerData.key); // a copy: sodium-native takes no shared memory
workerData.key.fill(0);
sodium.crypto_secretstream_xchacha20poly1305_init_push(state, header, key);
sodium.sodium_memzero(key);

// The plaintext of a record that spans staging buffers: one record whatever the backup's size.
const pending = Buffer.alloc(RECORD_PLAINTEXT);
let filled = 0;
const spare = [];
// The batch being filled; passed on (transferred) once the next record does not fit.
let out;
let used = 0;

function take(n) {
  if (!out) {
    const ab = spare.pop();
    out = ab ? Buffer.from(ab) : Buffer.allocUnsafeSlow(BATCH_BYTES);
  }
  used += n;
  return out.subarray(used - n, used);
}

function emit() {
  if (out && used > 0) next.postMessage({ out: out.buffer, n: used }, [out.buffer]);
  out = undefined;
  used = 0;
}

function seal(plain, tag) {
  if (out && used + plain.length + ABYTES > out.length) emit();
  sodium.crypto_secretstream_xchacha20poly1305_push(state, take(plain.length + ABYTES), plain, null, tag);
}

/** Seals every whole record of `chunk` straight from it; only a record split across chunks is copied. */
function write(chunk) {
  let offset = 0;
  if (filled > 0) {
    offset = Math.min(RECORD_PLAINTEXT - filled, chunk.length);
    chunk.copy(pending, filled, 0, offset);
    filled += offset;
    if (filled === RECORD_PLAINTEXT) {
      seal(pending, TAG_MESSAGE);
      filled = 0;
    }
  }
  for (; chunk.length - offset >= RECORD_PLAINTEXT; offset += RECORD_PLAINTEXT) {
    seal(chunk.subarray(offset, offset + RECORD_PLAINTEXT), TAG_MESSAGE);
  }
  if (offset < chunk.length) {
    chunk.copy(pending, filled, offset);
    filled += chunk.length - offset;
  }
  // A batch with no room for another whole record goes now rather than with the next staging buffer.
  if (out && used + RECORD_PLAINTEXT + ABYTES > out.length) emit();
}

header.copy(take(header.length));
parentPort.on('message', (m) => {
  if (m.spare) {
    if (m.spare.byteLength === BATCH_BYTES && spare.length < SPARES) spare.push(m.spare);
  } else if (m.data) {
    write(Buffer.from(m.data, 0, m.n));
    parentPort.postMessage({ back: m.data }, [m.data]);
  } else if (m.end) {
    // The remainder (maybe empty) is the final record.
    seal(pending.subarray(0, filled), TAG_FINAL);
    emit();
    sodium.sodium_memzero(pending);
    sodium.sodium_memzero(state);
    next.postMessage({ end: true });
  }
});
