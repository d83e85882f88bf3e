// "Root" for a user is root@'%' with every privilege: created (or its password
// reset) on enable, dropped on disable. Its password is generated here and
// returned once; neither the agent nor the controller keeps it.
import type { RootOps } from '../sdk/contract.js';
import { generatePassword } from '../sdk/secrets.js';
import { exec, type Session, type SessionRunner } from './connection.js';
import { userExists } from './users.js';

export const ROOT_USER = 'root';
const ROOT_HOST = '%';

export async function enableRoot(s: Session): Promise<{ user: string; password: string }> {
  const password = generatePassword();
  const verb = (await userExists(s, ROOT_USER, ROOT_HOST)) ? 'ALTER' : 'CREATE';
  await exec(s, `${verb} USER ?@? IDENTIFIED BY ?`, [ROOT_USER, ROOT_HOST, password]);
  await exec(s, 'GRANT ALL PRIVILEGES ON *.* TO ?@? WITH GRANT OPTION', [ROOT_USER, ROOT_HOST]);
  return { user: ROOT_USER, password };
}

export async function disableRoot(s: Session): Promise<void> {
  await exec(s, 'DROP USER IF EXISTS ?@?', [ROOT_USER, ROOT_HOST]);
}

export async function rootStatus(s: Session): Promise<{ enabled: boolean; user: string }> {
  return { enabled: await userExists(s, ROOT_USER, ROOT_HOST), user: ROOT_USER };
}

export function rootOps(session: SessionRunner): RootOps {
  return {
    enable: (op) => session(enableRoot, op.signal),
    disable: (op) => session(disableRoot, op.signal),
    status: (op) => session(rootStatus, op.signal),
  };
}
