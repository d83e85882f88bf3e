// The `s3` backend: AWS SDK v3 against AWS or any S3-compatible endpoint
// (path-style for the latter). Uploads are multipart through lib-storage with
// a fixed part size and queue, so memory is partSize x queueSize whatever the
// backup's size; a failed upload is aborted, and deletePrefix also aborts the
// multipart uploads a killed agent left behind.
import type { S3Client } from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { invalidArgument, notFound } from '../../errors.js';
import { registerSecret } from '../../redact.js';
import { checkKey, type ObjectStorage } from './storage.js';

export interface S3Options {
  bucket: string;
  /** Empty for AWS itself. */
  endpoint?: string;
  region?: string;
  prefix?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  forcePathStyle?: boolean;
  /** Multipart part size (bytes); at least 5 MiB. */
  partSize?: number;
  queueSize?: number;
}

const PART_SIZE = 16 * 1024 * 1024;
const QUEUE_SIZE = 2;

type Sdk = typeof import('./s3-sdk.js');

export class S3Storage implements ObjectStorage {
  readonly kind = 's3' as const;
  private loaded?: Promise<{ sdk: Sdk; client: S3Client }>;
  private client?: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;

  constructor(private readonly opts: S3Options) {
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(opts.bucket)) throw invalidArgument('storage.bucket', 'is not a valid bucket name');
    this.bucket = opts.bucket;
    this.prefix = opts.prefix ? `${opts.prefix.replace(/^\/+|\/+$/g, '')}/` : '';
    if (this.prefix) checkKey(this.prefix.slice(0, -1));
    registerSecret(opts.secretAccessKey);
  }

  /** The SDK and a client, loaded on first use. */
  private s3(): Promise<{ sdk: Sdk; client: S3Client }> {
    const opts = this.opts;
    this.loaded ??= import('./s3-sdk.js').then((sdk) => {
      this.client = new sdk.S3Client({
        endpoint: opts.endpoint || undefined,
        region: opts.region || 'us-east-1',
        forcePathStyle: opts.forcePathStyle ?? !!opts.endpoint,
        credentials: opts.accessKeyId ? { accessKeyId: opts.accessKeyId, secretAccessKey: opts.secretAccessKey ?? '' } : undefined,
        // Checksums of our own cover the data; the SDK's default CRC trailers are not understood by every S3-compatible server.
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      });
      return { sdk, client: this.client };
    });
    return this.loaded;
  }

  private full(key: string): string {
    return this.prefix + checkKey(key);
  }

  uri(key: string): string {
    return `s3://${this.bucket}/${this.full(key)}`;
  }

  keyOf(location: string): string {
    const start = `s3://${this.bucket}/${this.prefix}`;
    if (!location.startsWith(start)) throw invalidArgument('location', `${location} is not in s3://${this.bucket}/${this.prefix}`);
    return checkKey(location.slice(start.length));
  }

  async put(key: string, body: Readable, signal?: AbortSignal): Promise<number> {
    const { sdk, client } = await this.s3();
    let bytes = 0;
    body.on('data', (c: Buffer) => (bytes += c.length));
    const upload = new sdk.Upload({
      client,
      params: { Bucket: this.bucket, Key: this.full(key), Body: body },
      partSize: Math.max(this.opts.partSize ?? PART_SIZE, 5 * 1024 * 1024),
      queueSize: this.opts.queueSize ?? QUEUE_SIZE,
      leavePartsOnError: false,
    });
    const abort = () => void upload.abort().catch(() => undefined);
    signal?.addEventListener('abort', abort, { once: true });
    // A failing source must fail the upload (lib-storage would otherwise wait for more data).
    const onError = () => abort();
    body.once('error', onError);
    try {
      await upload.done();
    } catch (err) {
      // Settle the abort before answering, so the caller's cleanup does not race it.
      await upload.abort().catch(() => undefined);
      throw err;
    } finally {
      signal?.removeEventListener('abort', abort);
      body.off('error', onError);
    }
    signal?.throwIfAborted();
    return bytes;
  }

  async putBytes(key: string, data: Buffer): Promise<void> {
    const { sdk, client } = await this.s3();
    await client.send(new sdk.PutObjectCommand({ Bucket: this.bucket, Key: this.full(key), Body: data }));
  }

  async get(key: string, signal?: AbortSignal): Promise<Readable> {
    const { sdk, client } = await this.s3();
    try {
      const res = await client.send(new sdk.GetObjectCommand({ Bucket: this.bucket, Key: this.full(key) }), { abortSignal: signal });
      return res.Body as Readable;
    } catch (err) {
      if (err instanceof sdk.NoSuchKey || (err as { name?: string }).name === 'NoSuchKey') throw notFound(`backup object ${this.uri(key)} not found`);
      throw err;
    }
  }

  async getBytes(key: string): Promise<Buffer> {
    const body = await this.get(key);
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  async list(prefix: string): Promise<string[]> {
    const { sdk, client } = await this.s3();
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const res = await client.send(new sdk.ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.full(prefix), ContinuationToken: token }));
      for (const o of res.Contents ?? []) if (o.Key) keys.push(o.Key.slice(this.prefix.length));
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
    return keys.sort();
  }

  /** Multipart uploads started under `prefix` and never completed (what a killed writer leaves). */
  async pendingUploads(prefix: string): Promise<Array<{ key: string; uploadId: string }>> {
    const { sdk, client } = await this.s3();
    const res = await client.send(new sdk.ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: this.full(prefix) }));
    return (res.Uploads ?? []).filter((u) => u.Key && u.UploadId).map((u) => ({ key: u.Key!, uploadId: u.UploadId! }));
  }

  async deletePrefix(prefix: string): Promise<void> {
    const { sdk, client } = await this.s3();
    for (const u of await this.pendingUploads(prefix)) {
      await client.send(new sdk.AbortMultipartUploadCommand({ Bucket: this.bucket, Key: u.key, UploadId: u.uploadId })).catch((err: { name?: string }) => {
        if (err.name !== 'NoSuchUpload') throw err; // aborted meanwhile by its own writer
      });
    }
    const keys = await this.list(prefix);
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000).map((k) => ({ Key: this.prefix + k }));
      await client.send(new sdk.DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch, Quiet: true } }));
    }
  }

  close(): void {
    this.client?.destroy();
  }
}
