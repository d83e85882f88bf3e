// Access to a database, i.e. what a user granted a database may do in it:
//   - CONNECT and TEMPORARY on the database. Databases are created with
//     nothing granted to PUBLIC, so CONNECT is the gate: a user without it
//     cannot open a session there at all.
//   - USAGE and CREATE on schema public, and every privilege on the tables and
//     sequences already in it: a user can create and use objects like the
//     owner would, without owning the database (so it cannot drop it, change
//     its settings or grant it to others).
//   - Default privileges between the users of one database, both ways: a
//     table one of them creates later is usable by all of them, the way one
//     application's several accounts expect.
// Other schemas, and creating schemas, stay with the database owner (the
// agent, or root when enabled). Revoking removes all of the above and ends
// the user's open sessions in that database.
import { quotePgIdent } from '../sdk/identifiers.js';
import { exec, select, transaction, type Session, type Sessions } from './connection.js';
import { RESERVED_DATABASES, RESERVED_PREFIX } from './validation.js';

const q = quotePgIdent;
const list = (roles: readonly string[]): string => roles.map(q).join(', ');

/** Roles holding CONNECT on `db` through their own grant (not through PUBLIC), sorted. */
export async function grantees(s: Session, db: string): Promise<string[]> {
  const rows = await select<{ rolname: string }>(
    s,
    `SELECT r.rolname FROM pg_database d
       CROSS JOIN LATERAL aclexplode(d.datacl) a
       JOIN pg_roles r ON r.oid = a.grantee
      WHERE d.datname = $1 AND a.privilege_type = 'CONNECT'
      ORDER BY r.rolname::text COLLATE "C"`,
    [db],
  );
  return rows.map((r) => r.rolname);
}

/** The databases each role holds CONNECT on (reserved ones left out, as everywhere in the API), sorted. */
export async function accessOf(s: Session, roles: readonly string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>(roles.map((r) => [r, []]));
  if (roles.length === 0) return out;
  const rows = await select<{ rolname: string; datname: string }>(
    s,
    `SELECT r.rolname, d.datname FROM pg_database d
       CROSS JOIN LATERAL aclexplode(d.datacl) a
       JOIN pg_roles r ON r.oid = a.grantee
      WHERE r.rolname = ANY($1::text[]) AND a.privilege_type = 'CONNECT'
        AND lower(d.datname) <> ALL($2::text[]) AND lower(d.datname) NOT LIKE $3
      ORDER BY d.datname::text COLLATE "C"`,
    [roles, RESERVED_DATABASES, `${RESERVED_PREFIX.replace('_', '\\_')}%`],
  );
  for (const r of rows) out.get(r.rolname)?.push(r.datname);
  return out;
}

const hasPublicSchema = async (s: Session): Promise<boolean> => (await select(s, "SELECT 1 FROM pg_namespace WHERE nspname = 'public'")).length > 0;

/** Grants `role` access to `db` (see the top of this file). Granting again is harmless. Validated names only. */
export async function grantDatabase(sessions: Sessions, db: string, role: string): Promise<void> {
  const others = (await sessions((s) => grantees(s, db))).filter((r) => r !== role);
  await sessions(
    (s) =>
      transaction(s, async () => {
        if (!(await hasPublicSchema(s))) return; // dropped by root: nothing there to share
        await exec(s, `GRANT USAGE, CREATE ON SCHEMA public TO ${q(role)}`);
        await exec(s, `GRANT ALL ON ALL TABLES IN SCHEMA public TO ${q(role)}`);
        await exec(s, `GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO ${q(role)}`);
        if (others.length === 0) return;
        for (const kind of ['TABLES', 'SEQUENCES']) {
          await exec(s, `ALTER DEFAULT PRIVILEGES FOR ROLE ${q(role)} IN SCHEMA public GRANT ALL ON ${kind} TO ${list(others)}`);
          for (const other of others) {
            await exec(s, `ALTER DEFAULT PRIVILEGES FOR ROLE ${q(other)} IN SCHEMA public GRANT ALL ON ${kind} TO ${q(role)}`);
          }
        }
      }),
    db,
  );
  // Last: the user reaches the database only once everything in it is in place.
  await sessions((s) => exec(s, `GRANT CONNECT, TEMPORARY ON DATABASE ${q(db)} TO ${q(role)}`));
}

/** Takes `db` away from `role` and ends its sessions there. Revoking what is not granted is harmless. */
export async function revokeDatabase(sessions: Sessions, db: string, role: string): Promise<void> {
  // First: no new sessions from here on; then the open ones are ended.
  const others = await sessions(async (s) => {
    await exec(s, `REVOKE CONNECT, TEMPORARY ON DATABASE ${q(db)} FROM ${q(role)}`);
    await terminateSessions(s, role, db);
    return (await grantees(s, db)).filter((r) => r !== role);
  });
  await sessions(
    (s) =>
      transaction(s, async () => {
        if (!(await hasPublicSchema(s))) return;
        await exec(s, `REVOKE ALL ON ALL TABLES IN SCHEMA public FROM ${q(role)}`);
        await exec(s, `REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM ${q(role)}`);
        await exec(s, `REVOKE ALL ON SCHEMA public FROM ${q(role)}`);
        if (others.length === 0) return;
        for (const kind of ['TABLES', 'SEQUENCES']) {
          await exec(s, `ALTER DEFAULT PRIVILEGES FOR ROLE ${q(role)} IN SCHEMA public REVOKE ALL ON ${kind} FROM ${list(others)}`);
          for (const other of others) {
            await exec(s, `ALTER DEFAULT PRIVILEGES FOR ROLE ${q(other)} IN SCHEMA public REVOKE ALL ON ${kind} FROM ${q(role)}`);
          }
        }
      }),
    db,
  );
}

/** Ends `role`'s client sessions (in `db` only, when given); returns how many. */
export async function terminateSessions(s: Session, role: string, db?: string): Promise<number> {
  // In the select list, not the WHERE clause: SQL does not promise to check
  // the other conditions first, and this must never end anyone else's session.
  const rows = await select<{ ended: boolean }>(
    s,
    `SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity
      WHERE usename = $1 AND ($2::text IS NULL OR datname = $2) AND pid <> pg_backend_pid()`,
    [role, db ?? null],
  );
  return rows.filter((r) => r.ended).length;
}
