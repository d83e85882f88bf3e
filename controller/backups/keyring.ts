// The controller's backup master key and the per-backup wrapping keys derived
// from it (HKDF-SHA256, info = the backup id). Agents receive only the key of
// the backup at hand, in the command for it; the master key never leaves
// <dataDir>/pki/backup-master.key (0600). Losing that file loses every backup:
// it belongs in the controller's own backup.
import { hkdfSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { BackupKeyGrant } from '../../proto/gen/steward/v1/backups.js';

export const KEY_REF = 'controller-master-v1/hkdf-sha256';

export class BackupKeyring {
  private constructor(private readonly master: Buffer) {}

  static loadOrCreate(file: string): BackupKeyring {
    if (!existsSync(file)) {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      writeFileSync(file, randomBytes(32).toString('base64'), { mode: 0o600, flag: 'wx' });
    }
    const master = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
    if (master.length !== 32) throw new Error(`${file} does not hold a 32-byte backup master key`);
    return new BackupKeyring(master);
  }

  /** For tests and tools that hold the key themselves. */
  static fromKey(master: Buffer): BackupKeyring {
    return new BackupKeyring(Buffer.from(master));
  }

  grant(backupId: string, keyRef = KEY_REF): BackupKeyGrant {
    if (keyRef !== KEY_REF) throw new Error(`backup key reference ${keyRef} is not known to this controller`);
    const key = Buffer.from(hkdfSync('sha256', this.master, Buffer.alloc(0), `steward-backup-wrap:${backupId}`, 32));
    return { keyRef, wrappingKey: key };
  }
}
