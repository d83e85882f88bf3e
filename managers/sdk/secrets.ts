// Secrets generated on the guest (admin and root passwords). CSPRNG only; each
// stored in its own 0600 file inside a 0700 directory; every value read or
// made is registered for log redaction.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { registerSecret } from './redact.js';

const ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';

/** A password from the CSPRNG over an alphabet every datastore and shell takes unquoted. */
export function generatePassword(length = 32): string {
  // Rejection sampling keeps every character equally likely.
  const limit = 256 - (256 % ALPHABET.length);
  let out = '';
  while (out.length < length) {
    for (const b of randomBytes(length * 2)) {
      if (b < limit && out.length < length) out += ALPHABET[b % ALPHABET.length];
    }
  }
  registerSecret(out);
  return out;
}

export interface SecretStore {
  get(name: string): Promise<string | undefined>;
  put(name: string, value: string): Promise<void>;
  /** The stored value, or a new generated password stored before it is returned. */
  getOrCreate(name: string): Promise<string>;
}

const SECRET_NAME = /^[a-z][a-z0-9_-]{0,63}$/;

export class FileSecretStore implements SecretStore {
  constructor(private readonly dir: string) {}

  private path(name: string): string {
    if (!SECRET_NAME.test(name)) throw new Error(`bad secret name ${JSON.stringify(name)}`);
    return join(this.dir, name);
  }

  async get(name: string): Promise<string | undefined> {
    try {
      const value = (await readFile(this.path(name), 'utf8')).trim();
      registerSecret(value);
      return value;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async put(name: string, value: string): Promise<void> {
    registerSecret(value);
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await chmod(this.dir, 0o700);
    const target = this.path(name);
    const tmp = `${target}.tmp-${process.pid}`;
    await writeFile(tmp, value, { mode: 0o600 });
    await rename(tmp, target); // atomic: a crash leaves the old value or the new one
  }

  async getOrCreate(name: string): Promise<string> {
    const existing = await this.get(name);
    if (existing) return existing;
    const value = generatePassword();
    await this.put(name, value);
    return value;
  }
}
