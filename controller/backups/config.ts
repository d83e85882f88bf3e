// The controller's `backups:` configuration: where agents store backups and
// how they compress them. Credentials stay in the controller's config and are
// handed to an agent only inside the command that needs them.
import { join } from 'node:path';
import { z } from 'zod';
import type { BackupStorage } from '../../proto/gen/steward/v1/backups.js';
import { registerSecret } from '../../managers/sdk/redact.js';

export const backupsConfigSchema = z
  .object({
    storage: z
      .discriminatedUnion('kind', [
        z.object({ kind: z.literal('filesystem'), path: z.string().startsWith('/').optional() }).strict(),
        z
          .object({
            kind: z.literal('s3'),
            bucket: z.string().min(3),
            endpoint: z.string().url().optional(),
            region: z.string().default('us-east-1'),
            prefix: z.string().default(''),
            accessKeyId: z.string().optional(),
            secretAccessKey: z.string().optional(),
            forcePathStyle: z.boolean().optional(),
          })
          .strict(),
      ])
      .default({ kind: 'filesystem' }),
    compression: z.enum(['zstd', 'gzip', 'none']).default('zstd'),
    /** Controller-side master key; default <dataDir>/pki/backup-master.key. */
    masterKeyFile: z.string().optional(),
  })
  .strict()
  .default({ storage: { kind: 'filesystem' }, compression: 'zstd' });

export type BackupsConfig = z.infer<typeof backupsConfigSchema>;

/** The storage as commands carry it (filesystem default: <dataDir>/backups, which agents on this host share). */
export function storageOf(c: BackupsConfig, dataDir: string): BackupStorage {
  const s = c.storage;
  const blank: BackupStorage = {
    kind: s.kind,
    path: '',
    endpoint: '',
    region: '',
    bucket: '',
    prefix: '',
    accessKeyId: '',
    secretAccessKey: '',
    forcePathStyle: false,
  };
  if (s.kind === 'filesystem') return { ...blank, path: s.path ?? join(dataDir, 'backups') };
  registerSecret(s.secretAccessKey);
  return {
    ...blank,
    endpoint: s.endpoint ?? '',
    region: s.region,
    bucket: s.bucket,
    prefix: s.prefix,
    accessKeyId: s.accessKeyId ?? '',
    secretAccessKey: s.secretAccessKey ?? '',
    forcePathStyle: s.forcePathStyle ?? !!s.endpoint,
  };
}

/** What a record keeps of its storage: where, never the credentials. */
export const storageRecord = (s: BackupStorage): string =>
  JSON.stringify({ kind: s.kind, path: s.path, endpoint: s.endpoint, region: s.region, bucket: s.bucket, prefix: s.prefix, forcePathStyle: s.forcePathStyle });

/** A record's storage with the credentials of the configured one when it is the same place. */
export function storageFromRecord(json: string, current: BackupStorage): BackupStorage {
  const r = JSON.parse(json) as BackupStorage;
  const same = r.kind === current.kind && r.bucket === current.bucket && r.endpoint === current.endpoint;
  return { ...current, ...r, accessKeyId: same ? current.accessKeyId : '', secretAccessKey: same ? current.secretAccessKey : '' };
}
