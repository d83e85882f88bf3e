// What a source needs to serve replicas:
//   - the replication account (REPLICATION LOGIN), made on the primary and
//     replicated from there, so every member has it once it may be promoted;
//     its password travels as a SCRAM verifier (scram.ts), and is only set
//     when the stored one does not match, so a repeated call writes nothing;
//   - what pg_rewind needs of its source as that account instead of a
//     superuser (PostgreSQL's documentation, pg_rewind "Notes"): CONNECT on
//     the postgres database and EXECUTE on four file functions;
//   - one physical slot per replica it serves, created before the replica's
//     seed backup is taken (immediately reserving WAL), so no WAL a replica
//     still needs is recycled while it is down. Slots of replicas no longer
//     served are dropped, but only the agent's own and never one in use.
import { escapeLiteral } from 'pg';
import { failedPrecondition } from '../sdk/errors.js';
import { quotePgIdent } from '../sdk/identifiers.js';
import type { ReplicationCredentials } from '../sdk/replication.js';
import { exec, select, type Session } from './connection.js';
import type { PgReplicationFactsFile } from './replication-facts.js';
import { scramVerifier } from './scram.js';
import { MAINTENANCE_DB } from './paths.js';

/** SQLSTATE of a slot some walsender holds. */
const OBJECT_IN_USE = '55006';

/** The functions pg_rewind calls on its source. */
export const REWIND_FUNCTIONS = [
  'pg_catalog.pg_ls_dir(text, boolean, boolean)',
  'pg_catalog.pg_stat_file(text, boolean)',
  'pg_catalog.pg_read_binary_file(text)',
  'pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean)',
];

/** True when `verifier` (pg_authid.rolpassword) is `password`'s, by the verifier's own salt and iterations. */
export function verifierMatches(verifier: string | null, password: string): boolean {
  const m = /^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$/.exec(verifier ?? '');
  return !!m && scramVerifier(password, Buffer.from(m[2], 'base64'), Number(m[1])) === verifier;
}

/** The replication account as `creds` says, on a writable server (idempotent, and silent when nothing changes). */
export async function ensureReplicationRole(s: Session, creds: ReplicationCredentials): Promise<void> {
  const role = quotePgIdent(creds.user);
  const [row] = await select<{ password: string | null; replication: boolean; login: boolean }>(
    s,
    'SELECT rolpassword AS password, rolreplication AS replication, rolcanlogin AS login FROM pg_authid WHERE rolname = $1',
    [creds.user],
  );
  if (!row) {
    await exec(s, `CREATE ROLE ${role} REPLICATION LOGIN PASSWORD ${escapeLiteral(scramVerifier(creds.password))}`);
  } else {
    if (!row.replication || !row.login) await exec(s, `ALTER ROLE ${role} REPLICATION LOGIN`);
    if (!verifierMatches(row.password, creds.password)) await exec(s, `ALTER ROLE ${role} PASSWORD ${escapeLiteral(scramVerifier(creds.password))}`);
  }
  const [db] = await select<{ ok: boolean }>(s, "SELECT has_database_privilege($1, $2, 'CONNECT') AS ok", [creds.user, MAINTENANCE_DB]);
  if (!db.ok) await exec(s, `GRANT CONNECT ON DATABASE ${quotePgIdent(MAINTENANCE_DB)} TO ${role}`);
  for (const fn of REWIND_FUNCTIONS) {
    const [f] = await select<{ ok: boolean }>(s, "SELECT has_function_privilege($1, $2, 'EXECUTE') AS ok", [creds.user, fn]);
    // The signatures are the constants above.
    if (!f.ok) await exec(s, `GRANT EXECUTE ON FUNCTION ${fn} TO ${role}`);
  }
}

/** A standby cannot make the account: it must have come from the primary. */
export async function requireReplicationRole(s: Session, user: string): Promise<void> {
  const [row] = await select<{ n: number }>(s, 'SELECT count(*)::int AS n FROM pg_roles WHERE rolname = $1 AND rolreplication AND rolcanlogin', [user]);
  if (!row.n) throw failedPrecondition(`the replication account ${user} has not reached this standby from its primary yet: configure the primary first`);
}

/** One slot per name in `names`; the agent's slots of names no longer there are dropped unless in use. */
export async function syncSlots(s: Session, facts: PgReplicationFactsFile, names: readonly string[]): Promise<void> {
  const rows = await select<{ name: string; active: boolean }>(
    s,
    "SELECT slot_name AS name, active FROM pg_replication_slots WHERE slot_type = 'physical' AND NOT temporary",
  );
  const existing = new Map(rows.map((r) => [r.name, r.active]));
  const mine = new Set(facts.get().slots);
  for (const name of names) {
    if (existing.has(name)) continue;
    // Recorded before it exists: a crash in between leaves a record of a slot that is not there (harmless), never an unrecorded slot.
    mine.add(name);
    await facts.update({ slots: [...mine] });
    // immediately_reserve: WAL from now on is kept for this replica, before its seed backup starts.
    await exec(s, 'SELECT pg_create_physical_replication_slot($1, true)', [name]);
  }
  for (const name of [...mine]) {
    if (names.includes(name)) continue;
    if (existing.get(name)) continue; // in use: a replica streams through it now; dropped by a later call
    if (existing.has(name)) {
      const dropped = await exec(s, 'SELECT pg_drop_replication_slot($1)', [name]).then(
        () => true,
        (err: { code?: string }) => {
          if (err.code === OBJECT_IN_USE) return false; // a replica started streaming through it meanwhile
          throw err;
        },
      );
      if (!dropped) continue;
    }
    mine.delete(name);
  }
  await facts.update({ slots: [...mine] });
}
