// "Root" for a user is a login superuser role named `root`: created (or its
// password reset) on enable, dropped on disable. Its password is generated
// here and returned once; neither the agent nor the controller keeps it.
import type { RootOps } from '../sdk/contract.js';
import { generatePassword } from '../sdk/secrets.js';
import { AUTH_READ, type Session, type SessionRunner } from './connection.js';
import { roleExists } from './users.js';
import { ROOT_ROLE, cqlString, quoteCqlIdent } from './validation.js';

export async function enableRoot(s: Session): Promise<{ user: string; password: string }> {
  const password = generatePassword();
  const verb = (await roleExists(s, ROOT_ROLE)) ? 'ALTER' : 'CREATE';
  await s.exec(`${verb} ROLE ${quoteCqlIdent(ROOT_ROLE)} WITH PASSWORD = ${cqlString(password)} AND LOGIN = true AND SUPERUSER = true`);
  return { user: ROOT_ROLE, password };
}

export async function disableRoot(s: Session): Promise<void> {
  await s.exec(`DROP ROLE IF EXISTS ${quoteCqlIdent(ROOT_ROLE)}`);
}

export async function rootStatus(s: Session): Promise<{ enabled: boolean; user: string }> {
  const [row] = await s.rows('SELECT can_login, is_superuser FROM system_auth.roles WHERE role = ?', [ROOT_ROLE], AUTH_READ);
  return { enabled: !!row && row.can_login === true && row.is_superuser === true, user: ROOT_ROLE };
}

export function rootOps(session: SessionRunner): RootOps {
  return {
    enable: (op) => session(enableRoot, op.signal),
    disable: (op) => session(disableRoot, op.signal),
    status: (op) => session(rootStatus, op.signal),
  };
}
