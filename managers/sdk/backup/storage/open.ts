// The storage a command names. The controller fills BackupStorage from its
// configuration; an agent trusts it no further than its own file system rules.
import { join } from 'node:path';
import type { BackupStorage } from '../../../../proto/gen/steward/v1/backups.js';
import { invalidArgument } from '../../errors.js';
import { FilesystemStorage } from './filesystem.js';
import { S3Storage } from './s3.js';
import { checkKey, type ObjectStorage } from './storage.js';

export function openStorage(s: BackupStorage | undefined): ObjectStorage {
  if (!s) throw invalidArgument('storage', 'is required');
  switch (s.kind) {
    case 'filesystem':
      if (!s.path) throw invalidArgument('storage.path', 'is required for filesystem storage');
      return new FilesystemStorage(s.prefix ? join(s.path, checkKey(s.prefix.replace(/^\/+|\/+$/g, ''))) : s.path);
    case 's3':
      if (!s.bucket) throw invalidArgument('storage.bucket', 'is required for s3 storage');
      return new S3Storage({
        bucket: s.bucket,
        endpoint: s.endpoint,
        region: s.region,
        prefix: s.prefix,
        accessKeyId: s.accessKeyId,
        secretAccessKey: s.secretAccessKey,
        forcePathStyle: s.forcePathStyle,
      });
    default:
      throw invalidArgument('storage.kind', `unknown storage "${s.kind}" (filesystem, s3)`);
  }
}
