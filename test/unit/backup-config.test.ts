// The `backups` section of the controller config: a default that works with
// nothing configured, S3 settings as agents receive them, and errors that name
// the bad key.
import { describe, expect, it } from 'vitest';
import { parseControllerConfig } from '../../controller/config.js';
import { storageOf, storageRecord } from '../../controller/backups/config.js';
import { redactText } from '../../managers/sdk/redact.js';

describe('backups config', () => {
  it('defaults to zstd into <dataDir>/backups', () => {
    const c = parseControllerConfig({ dataDir: '/srv/steward' });
    expect(c.backups).toMatchObject({ compression: 'zstd', storage: { kind: 'filesystem' } });
    expect(storageOf(c.backups, c.dataDir)).toMatchObject({ kind: 'filesystem', path: '/srv/steward/backups', bucket: '', secretAccessKey: '' });
  });

  it('hands agents an S3 endpoint with path-style addressing, and keeps credentials out of records and logs', () => {
    const c = parseControllerConfig({
      backups: {
        storage: { kind: 's3', bucket: 'steward-bk', endpoint: 'http://127.0.0.1:9000', accessKeyId: 'AKIA1', secretAccessKey: 'very-secret-key-123' },
      },
    });
    const s = storageOf(c.backups, c.dataDir);
    expect(s).toMatchObject({
      kind: 's3',
      bucket: 'steward-bk',
      endpoint: 'http://127.0.0.1:9000',
      region: 'us-east-1',
      forcePathStyle: true,
      secretAccessKey: 'very-secret-key-123',
    });
    expect(storageRecord(s)).not.toContain('very-secret-key-123');
    expect(storageRecord(s)).not.toContain('AKIA1');
    expect(redactText('uploading with very-secret-key-123')).not.toContain('very-secret-key-123');
  });

  it('names the bad key', () => {
    expect(() => parseControllerConfig({ backups: { compression: 'lz4' } })).toThrow(/backups\.compression/);
    expect(() => parseControllerConfig({ backups: { storage: { kind: 'ftp' } } })).toThrow(/backups\.storage/);
    expect(() => parseControllerConfig({ backups: { storage: { kind: 'filesystem', path: 'relative/dir' } } })).toThrow(/backups\.storage\.path/);
    expect(() => parseControllerConfig({ backups: { storage: { kind: 's3', bucket: 'b' } } })).toThrow(/backups\.storage\.bucket/);
    expect(() => parseControllerConfig({ backups: { storage: { kind: 's3', bucket: 'bucket', endpoint: 'not a url' } } })).toThrow(
      /backups\.storage\.endpoint/,
    );
    expect(() => parseControllerConfig({ backups: { storag: {} } })).toThrow(/storag/);
  });
});
