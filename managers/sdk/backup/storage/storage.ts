// Where backup objects live. Every backend makes an object visible only once
// it is complete (filesystem: rename; s3: CompleteMultipartUpload), so a
// reader never finds half a backup under its final name.
import type { Readable } from 'node:stream';

export interface PutOptions {
  /**
   * Called with each chunk of the body once the storage has written it and
   * keeps no reference to it (the pipeline then reuses the memory). A backend
   * that holds on to chunks (S3 collects them into parts) never calls it.
   */
  written?: (chunk: Buffer) => void;
}

export interface ObjectStorage {
  readonly kind: 'filesystem' | 's3';
  /** The URI recorded as a backup's location. */
  uri(key: string): string;
  /** The key of a location this storage wrote; INVALID_ARGUMENT for any other location. */
  keyOf(location: string): string;
  /** Streams `body` into `key`; resolves with the bytes stored once the object is complete and visible. */
  put(key: string, body: Readable, signal?: AbortSignal, opts?: PutOptions): Promise<number>;
  putBytes(key: string, data: Buffer): Promise<void>;
  /** NOT_FOUND when there is no such object. */
  get(key: string, signal?: AbortSignal): Promise<Readable>;
  getBytes(key: string): Promise<Buffer>;
  /** Complete objects under `prefix` (keys). */
  list(prefix: string): Promise<string[]>;
  /** Removes everything under `prefix`, partial uploads included. Removing nothing is fine. */
  deletePrefix(prefix: string): Promise<void>;
  close(): void;
}

/** Refuses keys that could escape their prefix (the filesystem backend joins them onto a directory). */
export function checkKey(key: string): string {
  if (!key || key.startsWith('/') || key.split('/').some((p) => p === '' || p === '.' || p === '..') || /[\0\r\n\\]/.test(key)) {
    throw new Error(`bad object key ${JSON.stringify(key)}`);
  }
  return key;
}
