// What mysql_secure_installation does, plus the agent's own admin account.
// Runs once, on a freshly initialised server, as OS root.
import { generatePassword } from '../sdk/secrets.js';
import { exec, select, type Session } from './connection.js';
import type { Flavour } from './flavour.js';
import { ADMIN_USER } from './validation.js';

export async function secureInstallation(s: Session): Promise<void> {
  const anonymous = await select<{ Host: string }>(s, "SELECT Host FROM mysql.user WHERE User = ''");
  for (const { Host } of anonymous) await exec(s, "DROP USER ''@?", [Host]);
  // root stays reachable only from this machine; a user gets root@'%' by enabling root.
  const remoteRoots = await select<{ Host: string }>(s, "SELECT Host FROM mysql.user WHERE User = 'root' AND Host <> 'localhost'");
  for (const { Host } of remoteRoots) await exec(s, "DROP USER 'root'@?", [Host]);
  await exec(s, 'DROP DATABASE IF EXISTS test');
  // Old installers granted everyone access to test and test_* by pattern.
  await exec(s, "DELETE FROM mysql.db WHERE Db = 'test' OR Db = 'test\\\\_%'");
  // The installer's proxy grants for root at this machine's hostname (dropped above with that root).
  await exec(s, "DELETE FROM mysql.proxies_priv WHERE Host <> 'localhost'");
  await exec(s, 'FLUSH PRIVILEGES');
}

/** (Re)creates the agent's admin account, reachable through the local socket only. */
export async function createAdmin(s: Session, password: string): Promise<void> {
  await exec(s, "DROP USER IF EXISTS ?@'localhost'", [ADMIN_USER]);
  await exec(s, "CREATE USER ?@'localhost' IDENTIFIED BY ?", [ADMIN_USER, password]);
  await exec(s, "GRANT ALL PRIVILEGES ON *.* TO ?@'localhost' WITH GRANT OPTION", [ADMIN_USER]);
}

export async function lockLocalRoot(s: Session, flavour: Flavour): Promise<void> {
  for (const [sql, params] of flavour.lockLocalRoot(generatePassword())) await exec(s, sql, params);
}
