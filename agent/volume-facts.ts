// How full the filesystem under the data directory is, added to every probe's
// facts in whole MiB (so a heartbeat reports a change, not every written
// byte). A filesystem with less than 2% or 16 MiB free, whichever is more, is
// reported full: the datastore will refuse writes or crash, and the operator
// must hear it from Steward first.
import { statfs } from 'node:fs/promises';
import type { Probe } from '../managers/sdk/contract.js';

const MiB = 1024 * 1024;

export async function withVolumeFacts(p: Probe, dataDir: string): Promise<Probe> {
  const s = await statfs(dataDir).catch(() => undefined);
  if (!s) return p;
  const total = s.blocks * s.bsize;
  const free = s.bavail * s.bsize;
  const full = free < Math.max(0.02 * total, 16 * MiB);
  return {
    ...p,
    facts: {
      ...p.facts,
      volume_total_mb: String(Math.floor(total / MiB)),
      volume_used_mb: String(Math.floor((total - free) / MiB)),
      ...(full ? { volume_full: 'true' } : {}),
    },
  };
}
