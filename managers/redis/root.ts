// "Root" is Redis's built-in `default` user: the account clients get without
// AUTH, or with AUTH and a password only (the requirepass of old). Prepare
// leaves it off; enable turns it on with every permission and a new generated
// password, returned once and kept by neither the agent nor the controller;
// disable turns it off again and forgets password and permissions.
import type { RootOps } from '../sdk/contract.js';
import { generatePassword } from '../sdk/secrets.js';
import { getAclUser, isEnabled, persistAcl, setAclUser } from './acl.js';
import type { Session, SessionRunner } from './connection.js';
import { DEFAULT_USER } from './validation.js';

export const ROOT_USER = DEFAULT_USER;

/** What prepare and disable leave the default user as (also the initial ACL file's line). */
export const ROOT_OFF_RULES: readonly string[] = ['reset', 'off'];

export async function enableRoot(s: Session): Promise<{ user: string; password: string }> {
  const password = generatePassword();
  // reset first: the old password stops working, as with any root reset.
  await setAclUser(s, ROOT_USER, ['reset', 'on', `>${password}`, '~*', '&*', '+@all'], 'root');
  await persistAcl(s);
  return { user: ROOT_USER, password };
}

export async function disableRoot(s: Session): Promise<void> {
  await setAclUser(s, ROOT_USER, ROOT_OFF_RULES, 'root');
  await persistAcl(s);
}

export async function rootStatus(s: Session): Promise<{ enabled: boolean; user: string }> {
  const u = await getAclUser(s, ROOT_USER);
  return { enabled: !!u && isEnabled(u), user: ROOT_USER };
}

export function rootOps(session: SessionRunner): RootOps {
  return {
    enable: (op) => session(enableRoot, op.signal),
    disable: (op) => session(disableRoot, op.signal),
    status: (op) => session(rootStatus, op.signal),
  };
}
