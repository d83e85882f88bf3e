// What the PostgreSQL side of replication remembers beyond the shared state
// file (sdk/replication-state.ts), in one small JSON file next to the config:
//   - the replication account's name, so that primary_conninfo can be
//     rendered again (fence, unfence, restart) without a request at hand;
//   - the replicas this instance serves as a source: their names are
//     synchronous_standby_names when the set is synchronous;
//   - the slots the agent made for them: only those are ever dropped (an
//     operator's own slots, or a backup's temporary one, are not the agent's).
// Physical slots never travel with data (pg_basebackup and pg_rewind leave
// pg_replslot out), so this file describes the local server only.
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../sdk/config-file.js';

export interface PgReplicationFacts {
  /** The replication account (as the controller named it). */
  user: string;
  /** The replicas this instance serves now (slot names and application_names). */
  served: string[];
  /** Slots the agent created and has not dropped yet. */
  slots: string[];
}

const EMPTY: PgReplicationFacts = { user: '', served: [], slots: [] };

export class PgReplicationFactsFile {
  private cached?: PgReplicationFacts;

  constructor(private readonly path: string) {}

  get(): PgReplicationFacts {
    if (!this.cached) {
      try {
        this.cached = { ...EMPTY, ...(JSON.parse(readFileSync(this.path, 'utf8')) as Partial<PgReplicationFacts>) };
      } catch {
        this.cached = { ...EMPTY };
      }
    }
    return this.cached;
  }

  async update(patch: Partial<PgReplicationFacts>): Promise<PgReplicationFacts> {
    const next = { ...this.get(), ...patch };
    await writeFileAtomic(this.path, `${JSON.stringify(next)}\n`, { mode: 0o600 });
    this.cached = next;
    return next;
  }
}
