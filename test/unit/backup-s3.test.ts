// The s3 backend against a real S3-compatible server (gofakes3 built from the
// Go module proxy by scripts/s3-server.sh, on loopback): multipart upload,
// verified download, corruption refused, cleanup of everything under a backup.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackupArtifact, BackupType } from '../../proto/gen/steward/v1/backups.js';
import { asStewardError } from '../../managers/sdk/errors.js';
import { newDataKey, wrapDataKey } from '../../managers/sdk/backup/keys.js';
import { dataKey as dataObject, readMeta, writeMeta } from '../../managers/sdk/backup/layout.js';
import { dataKeyOf, discardBackup, fetchVerified, openVerified, saveStream } from '../../managers/sdk/backup/pipeline.js';
import { ENCRYPTION } from '../../managers/sdk/backup/secretstream.js';
import { S3Storage } from '../../managers/sdk/backup/storage/s3.js';
import { openStorage } from '../../managers/sdk/backup/storage/open.js';
import { s3ServerBinary, startS3Server, type S3Server } from '../fixtures/s3-server.js';

const bin = s3ServerBinary();
if (bin.reason) console.warn(`\n*** SKIPPED: s3 backup tests: ${bin.reason} ***\n`);

const signal = new AbortController().signal;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe.skipIf(!!bin.reason)('backup pipeline on S3 (gofakes3 on loopback)', () => {
  let server: S3Server;
  let storage: S3Storage;
  let staging: string;
  const wrappingKey = randomBytes(32);

  beforeAll(async () => {
    server = await startS3Server(bin.path!);
    storage = openStorage({
      kind: 's3',
      path: '',
      endpoint: server.endpoint,
      region: 'us-east-1',
      bucket: server.bucket,
      prefix: 'steward/test',
      accessKeyId: server.accessKeyId,
      secretAccessKey: server.secretAccessKey,
      forcePathStyle: true,
    }) as S3Storage;
    staging = mkdtempSync(join(tmpdir(), 'steward-s3stage-'));
  });
  afterAll(async () => {
    storage?.close();
    await server?.stop();
    rmSync(staging, { recursive: true, force: true });
  });

  async function save(id: string, data: Buffer) {
    const key = newDataKey();
    const s3 = new S3Storage({
      bucket: server.bucket,
      endpoint: server.endpoint,
      prefix: 'steward/test',
      accessKeyId: server.accessKeyId,
      secretAccessKey: server.secretAccessKey,
      partSize: 5 * 1024 * 1024,
    });
    try {
      const saved = await saveStream({ source: Readable.from([data]), storage: s3, key: dataObject('inst-s3', id), dataKey: key, compression: 'zstd', signal });
      const a = BackupArtifact.fromPartial({
        backupId: id,
        instanceId: 'inst-s3',
        datastore: 'test',
        type: BackupType.FULL,
        ...saved,
        compression: 'zstd',
        encryption: ENCRYPTION,
        wrappedKey: wrapDataKey(key, wrappingKey, id),
      });
      await writeMeta(s3, a);
      return a;
    } finally {
      s3.close();
    }
  }

  it('stores a multipart object and restores it byte for byte', async () => {
    const data = randomBytes(13 * 1024 * 1024); // incompressible: three 5 MiB parts
    const a = await save('big', data);
    expect(a.location).toBe(`s3://${server.bucket}/steward/test/inst-s3/big/data`);
    expect(await storage.list('inst-s3/big')).toEqual(['inst-s3/big/data', 'inst-s3/big/meta.json']);
    const meta = await readMeta(storage, 'inst-s3', 'big');
    expect(meta.checksum).toBe(a.checksum);
    expect(Buffer.from(meta.wrappedKey).equals(Buffer.from(a.wrappedKey))).toBe(true);
    const file = join(staging, 'big');
    await fetchVerified({ storage, artifact: meta, stagingFile: file, signal });
    const parts: Buffer[] = [];
    for await (const c of openVerified(file, meta, dataKeyOf(meta, { keyRef: '', wrappingKey }), signal)) parts.push(c as Buffer);
    expect(sha(Buffer.concat(parts))).toBe(sha(data));
    expect(await storage.pendingUploads('inst-s3')).toEqual([]);
  });

  it('refuses an object with a flipped byte before handing anything on', async () => {
    const a = await save('flip', randomBytes(200_000));
    const stored = await storage.getBytes('inst-s3/flip/data');
    stored[1234] ^= 0x04;
    await storage.putBytes('inst-s3/flip/data', stored);
    const err = await fetchVerified({ storage, artifact: a, stagingFile: join(staging, 'flip'), signal }).catch((e: unknown) => asStewardError(e));
    expect(err?.code).toBe('FAILED_PRECONDITION');
    expect(err?.message).toMatch(/backup flip is corrupt .*checksum/);
  });

  it('a failed upload leaves no object and no pending multipart upload', async () => {
    const failing = new Readable({
      read() {
        this.push(randomBytes(6 * 1024 * 1024));
        setTimeout(() => this.destroy(new Error('tool died')), 50);
      },
    });
    const err = await saveStream({ source: failing, storage, key: dataObject('inst-s3', 'broken'), dataKey: newDataKey(), compression: 'none', signal }).catch(
      (e: Error) => e,
    );
    expect(String(err)).toMatch(/tool died/);
    await discardBackup(storage, 'inst-s3', 'broken');
    expect(await storage.list('inst-s3/broken')).toEqual([]);
    expect(await storage.pendingUploads('inst-s3/broken')).toEqual([]);
  });

  it('deleting a backup removes all of its objects and nothing else', async () => {
    await discardBackup(storage, 'inst-s3', 'big');
    expect(await storage.list('inst-s3/big')).toEqual([]);
    expect(await storage.list('inst-s3/flip')).toEqual(['inst-s3/flip/data', 'inst-s3/flip/meta.json']);
    const missing = await storage.get('inst-s3/big/data').catch((e: unknown) => asStewardError(e));
    expect((missing as { code?: string }).code).toBe('NOT_FOUND');
  });
});
