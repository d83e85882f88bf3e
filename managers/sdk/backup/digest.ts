// Counts and hashes the bytes that pass: the checksum is of exactly what the
// storage receives, so a restore can check the stored object before using it.
//
// sha256 costs about 1 s of CPU per GiB on the bench machine. With
// `offThread` (the restore's download), the hashing runs in a worker thread: each
// chunk is copied into a fixed ring of shared memory (a memcpy, a tenth of the
// hash's cost) and passed on, while the worker hashes the ring behind
// it. The ring is the only memory this adds, whatever the stream's size; when
// the worker falls a ring behind, the tap waits (backpressure as usual).
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { assetUrl } from '../assets.js';

export interface Tap extends Transform {
  readonly bytes: number;
  /** "sha256:<hex>"; call once the stream has ended. */
  checksum(): string;
}

export interface TapOptions {
  hash?: boolean;
  /** Hash in a worker thread instead of on the event loop (worth it for large streams). */
  offThread?: boolean;
  onBytes?: (total: number) => void;
}

/** Bytes of shared memory between a tap and its hashing worker. */
const HASH_RING_BYTES = 4 * 1024 * 1024;

/** sha256 in a worker thread, fed through a ring of shared memory. */
class RingHasher {
  private readonly ring: Uint8Array;
  private readonly worker: Worker;
  /** Bytes written into the ring, and bytes the worker has hashed (both running totals). */
  private head = 0;
  private hashed = 0;
  private resume?: () => void;
  private onDigest?: (hex: string) => void;
  private failed?: Error;
  private onFail?: (err: Error) => void;

  constructor(size: number) {
    const sab = new SharedArrayBuffer(size);
    this.ring = new Uint8Array(sab);
    // A plain CommonJS file next to this one: no tsx in the worker (execArgv), nothing to transpile.
    this.worker = new Worker(assetUrl('managers/sdk/backup/digest-hash.cjs'), {
      workerData: { ring: sab },
      execArgv: [],
      stdout: false,
      stderr: false,
      resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 64 },
    });
    this.worker.on('message', (m: number | { digest: string }) => {
      if (typeof m === 'number') {
        this.hashed += m;
        const r = this.resume;
        this.resume = undefined;
        r?.();
      } else {
        this.onDigest?.(m.digest);
      }
    });
    const fail = (err: Error) => {
      this.failed ??= err;
      this.onFail?.(this.failed);
      const r = this.resume; // a feed waiting for room: it sees the failure
      this.resume = undefined;
      r?.();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`the hashing worker exited (${code}) before the stream ended`)));
  }

  /** Copies `chunk` into the ring (waiting for room as needed), then calls `done`. */
  feed(chunk: Uint8Array, done: (err?: Error) => void, offset = 0): void {
    const size = this.ring.length;
    while (offset < chunk.length) {
      if (this.failed) return done(this.failed);
      const at = this.head % size;
      const n = Math.min(chunk.length - offset, size - (this.head - this.hashed), size - at);
      if (n === 0) {
        this.resume = () => this.feed(chunk, done, offset);
        return;
      }
      this.ring.set(chunk.subarray(offset, offset + n), at);
      this.worker.postMessage([at, n]);
      this.head += n;
      offset += n;
    }
    done();
  }

  digest(): Promise<string> {
    return new Promise((resolve, reject) => {
      if (this.failed) return reject(this.failed);
      this.onFail = reject;
      this.onDigest = resolve;
      this.worker.postMessage('end');
    });
  }

  close(): void {
    this.worker.removeAllListeners('exit');
    this.worker.on('error', () => undefined);
    void this.worker.terminate();
  }
}

export function tap(opts: TapOptions = {}): Tap {
  const inline: Hash | undefined = opts.hash && !opts.offThread ? createHash('sha256') : undefined;
  let worker: RingHasher | undefined;
  const hasher = () => (worker ??= new RingHasher(HASH_RING_BYTES));
  let bytes = 0;
  let digest: string | undefined;
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      bytes += chunk.length;
      opts.onBytes?.(bytes);
      if (!opts.hash || inline) {
        inline?.update(chunk);
        return cb(null, chunk);
      }
      // Passed on once copied into the ring: at once, unless the worker is a ring behind.
      hasher().feed(chunk, (err) => (err ? cb(err) : cb(null, chunk)));
    },
    flush(cb: TransformCallback) {
      if (!opts.hash || inline) return cb();
      if (!worker) {
        digest = `sha256:${createHash('sha256').digest('hex')}`; // nothing passed
        return cb();
      }
      worker.digest().then(
        (hex) => {
          digest = `sha256:${hex}`;
          worker?.close();
          cb();
        },
        (err: Error) => cb(err),
      );
    },
    destroy(err, cb) {
      worker?.close();
      cb(err);
    },
  }) as Tap;
  Object.defineProperty(t, 'bytes', { get: () => bytes });
  t.checksum = () => {
    if (!opts.hash) throw new Error('this tap does not hash');
    if (inline) digest ??= `sha256:${inline.digest('hex')}`;
    if (!digest) throw new Error('the checksum is known only once the stream has ended');
    return digest;
  };
  return t;
}
