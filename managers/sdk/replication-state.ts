// What a manager remembers about its place in a replica set, in one small file
// next to its config: the datastore alone cannot say whether a writable server
// is a standalone instance or a primary, nor whether it was fenced on purpose.
// Read once and cached (the crash policy asks synchronously), written
// atomically on every change.
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from './config-file.js';

export type RoleName = 'standalone' | 'primary' | 'replica';

export interface ReplicationState {
  role: RoleName;
  /** A replica's source and its name there. */
  source?: { host: string; port: number; name: string };
  synchronous: boolean;
  /** A primary whose crash the controller handles (failover): the agent does not restart it. */
  failoverGuard: boolean;
  /** Refuses writes on purpose (fenced by the controller or by its expired lease). */
  fenced: boolean;
}

const STANDALONE: ReplicationState = { role: 'standalone', synchronous: false, failoverGuard: false, fenced: false };

export class ReplicationStateFile {
  private cached?: ReplicationState;

  constructor(private readonly path: string) {}

  get(): ReplicationState {
    if (!this.cached) {
      try {
        this.cached = { ...STANDALONE, ...(JSON.parse(readFileSync(this.path, 'utf8')) as Partial<ReplicationState>) };
      } catch {
        this.cached = { ...STANDALONE };
      }
    }
    return this.cached;
  }

  async update(patch: Partial<ReplicationState>): Promise<ReplicationState> {
    const next = { ...this.get(), ...patch };
    await writeFileAtomic(this.path, `${JSON.stringify(next)}\n`, { mode: 0o600 });
    this.cached = next;
    return next;
  }

  /** Whether this instance is in a replica set at all. */
  get replicated(): boolean {
    return this.get().role !== 'standalone';
  }

  /** A writable primary of a replica set: it may take writes only while its lease lasts. */
  get holdsWriteLease(): boolean {
    const s = this.get();
    return s.role === 'primary' && !s.fenced;
  }

  get restartOnCrash(): boolean {
    const s = this.get();
    return !(s.role === 'primary' && s.failoverGuard);
  }
}
