// prepare: from an empty instance directory to a secured, running server with
// the requested databases and users. Nothing before the final marker counts:
// a retry after any failure stops whatever the last attempt started, wipes the
// data directory and starts over (there is no user data before the marker).
import { chmod, chown, mkdir, open, readdir, rm } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import type { ManagerContext, OperationScope } from '../sdk/contract.js';
import { issueServerCertificate } from '../sdk/tls.js';
import { writeFileAtomic } from '../sdk/config-file.js';
import { failedPrecondition, invalidArgument, internal } from '../sdk/errors.js';
import { isRoot, lookupOsUser, type OsUser } from '../sdk/os-user.js';
import type { PrepareRequest } from '../sdk/types.js';
import { renderMyCnf } from './config.js';
import { withSession, type SessionOptions } from './connection.js';
import { createDatabases } from './databases.js';
import type { Flavour } from './flavour.js';
import { ADMIN_SECRET, OS_USER, serviceSpec, type MysqlPaths } from './paths.js';
import { waitUntilReady } from './readiness.js';
import { createAdmin, lockLocalRoot, secureInstallation } from './secure.js';
import { createUsers } from './users.js';
import { ADMIN_USER, checkDatabases, checkUsers } from './validation.js';

export interface PrepareDeps {
  ctx: ManagerContext;
  paths: MysqlPaths;
  flavour: Flavour;
}

/** Everything wrong with the request is found before anything is touched. */
export function checkPrepareRequest(req: PrepareRequest): void {
  const dbs = req.databases ?? [];
  const users = req.users ?? [];
  checkDatabases(dbs, 'databases');
  checkUsers(users, 'users');
  const names = new Set(dbs.map((d) => d.name));
  users.forEach((u, i) =>
    (u.access ?? []).forEach((a, j) => {
      if (!names.has(a.database)) {
        throw invalidArgument(`users[${i}].access[${j}].database`, `'${a.database}' is not one of the databases being created`);
      }
    }),
  );
}

const SYSTEM_DIRS = new Set(['/', '/bin', '/boot', '/dev', '/etc', '/home', '/lib', '/opt', '/proc', '/root', '/run', '/sbin', '/srv', '/sys', '/tmp', '/usr', '/var', '/var/lib']);

async function emptyDir(dir: string): Promise<void> {
  // The data directory comes from the agent's config: a typo there must not wipe the machine.
  if (!isAbsolute(dir) || SYSTEM_DIRS.has(resolve(dir))) throw internal(`refusing to wipe ${dir}`);
  for (const entry of await readdir(dir)) await rm(join(dir, entry), { recursive: true, force: true });
}

async function ownedBy(path: string, owner: OsUser | undefined, mode: number): Promise<void> {
  await chmod(path, mode);
  if (owner) await chown(path, owner.uid, owner.gid);
}

async function prepareDirectories({ ctx, paths }: PrepareDeps, owner: OsUser | undefined): Promise<void> {
  for (const dir of [ctx.dataDir, ctx.configDir, ctx.runDir, ctx.logDir]) await mkdir(dir, { recursive: true });
  await emptyDir(ctx.dataDir);
  await ownedBy(ctx.dataDir, owner, 0o750);
  await ownedBy(ctx.runDir, owner, 0o755); // the server creates its socket and pid file here
  // The server opens its error log itself; the log directory may be the agent's, so only the file is handed over.
  await (await open(paths.errorLog, 'a', 0o640)).close();
  if (owner) await chown(paths.errorLog, owner.uid, owner.gid);
}

export async function prepare(deps: PrepareDeps, req: PrepareRequest, op: OperationScope): Promise<void> {
  const { ctx, paths, flavour } = deps;
  const { signal } = op;
  op.progress(1, 'validating request');
  checkPrepareRequest(req);
  const spec = serviceSpec(flavour, paths);
  const owner = isRoot() ? await lookupOsUser(OS_USER, ctx.runner) : undefined;

  op.progress(5, 'preparing directories');
  await ctx.service.stop(spec, signal); // whatever a failed attempt left running
  await prepareDirectories(deps, owner);

  op.progress(15, 'rendering configuration');
  const settings = {
    flavour: flavour.name,
    dataDir: ctx.dataDir,
    port: req.port || ctx.port,
    bindAddress: req.bindAddress || ctx.bindAddress,
    socket: paths.socket,
    pidFile: paths.serverPidFile,
    errorLog: paths.errorLog,
    memoryMb: req.memoryMb || ctx.memoryMb,
  };
  const tls = await issueServerCertificate(ctx, owner);
  await writeFileAtomic(paths.configFile, renderMyCnf({ ...settings, tls }), { mode: 0o644 });

  op.progress(25, `initialising data directory (${flavour.name})`);
  const init = flavour.initCommand(paths.configFile, owner?.name);
  await ctx.runner(init.command, init.args, { signal, timeoutMs: 10 * 60_000, cwd: '/' });

  try {
    op.progress(45, 'starting server');
    await ctx.service.start(spec, signal);
    op.progress(55, 'waiting for the server to accept connections');
    const ready = { service: ctx.service, spec, errorLog: paths.errorLog };
    const osRoot: SessionOptions = { socket: paths.socket, user: 'root' };
    await waitUntilReady(osRoot, ready, signal);

    op.progress(65, 'securing the installation');
    const adminPassword = await ctx.secrets.getOrCreate(ADMIN_SECRET);
    await withSession(osRoot, async (s) => {
      await secureInstallation(s);
      await createAdmin(s, adminPassword);
      await lockLocalRoot(s, flavour);
    }, signal);
    const admin: SessionOptions = { socket: paths.socket, user: ADMIN_USER, password: adminPassword };
    await waitUntilReady(admin, ready, signal, 10_000);

    op.progress(80, 'creating databases');
    await withSession(admin, (s) => createDatabases(s, req.databases ?? []), signal);
    op.progress(90, 'creating users');
    await withSession(admin, (s) => createUsers(s, req.users ?? []), signal);

    await writeFileAtomic(paths.preparedMarker, `${JSON.stringify({ flavour: flavour.name, at: new Date().toISOString() })}\n`, {
      mode: 0o644,
    });
  } catch (err) {
    // Not prepared means nothing to keep: stop rather than leave a half-made server being restarted.
    await ctx.service.stop(spec).catch((e: Error) => ctx.log.warn({ err: e.message }, 'stop after failed prepare failed'));
    throw err;
  }
  op.progress(100, 'prepared');
}

export const alreadyPrepared = () => failedPrecondition('MySQL is already prepared on this instance');
