// A datastore's server certificate for its client connections: the agent gets
// it from the controller's CA; the files are handed to the server's OS user.
import { chown, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ManagerContext, TlsFiles } from './contract.js';
import type { OsUser } from './os-user.js';

/** Writes a fresh certificate into <configDir>/tls, or returns undefined when the agent runs without TLS. */
export async function issueServerCertificate(ctx: ManagerContext, owner: OsUser | undefined): Promise<TlsFiles | undefined> {
  if (!ctx.issueTlsCertificate) return undefined;
  const dir = join(ctx.configDir, 'tls');
  await mkdir(dir, { recursive: true, mode: 0o750 });
  const files = await ctx.issueTlsCertificate(dir);
  if (owner) for (const f of [dir, files.keyFile, files.certFile, files.caFile]) await chown(f, owner.uid, owner.gid);
  return files;
}
