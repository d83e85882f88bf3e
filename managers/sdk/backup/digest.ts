// Counts and hashes the bytes that pass: the checksum is of exactly what the
// storage receives, so a restore can check the stored object before using it.
import { createHash, type Hash } from 'node:crypto';
import { Transform } from 'node:stream';

export interface Tap extends Transform {
  readonly bytes: number;
  /** "sha256:<hex>"; call once the stream has ended. */
  checksum(): string;
}

export function tap(opts: { hash?: boolean; onBytes?: (total: number) => void } = {}): Tap {
  const hash: Hash | undefined = opts.hash ? createHash('sha256') : undefined;
  let bytes = 0;
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      hash?.update(chunk);
      opts.onBytes?.(bytes);
      cb(null, chunk);
    },
  }) as Tap;
  Object.defineProperty(t, 'bytes', { get: () => bytes });
  let digest: string | undefined;
  t.checksum = () => {
    if (!hash) throw new Error('this tap does not hash');
    digest ??= `sha256:${hash.digest('hex')}`;
    return digest;
  };
  return t;
}
