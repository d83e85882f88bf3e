// Maps each Command payload onto the manager call that does the work. `kind` is
// the name the controller and the journal use; `mutating` decides whether the
// executor serialises it; `needs` is the capability the manager must declare.
import type { Command } from '../proto/gen/steward/v1/agent.js';
import type { OperationResult } from '../proto/gen/steward/v1/common.js';
import { isIP } from 'node:net';
import type { AgentManager, Capability, ClusterOps, OperationScope, Validator } from '../managers/sdk/contract.js';
import { registerSecret } from '../managers/sdk/redact.js';
import { failedPrecondition, invalidArgument } from '../managers/sdk/errors.js';

export interface CommandSpec {
  kind: string;
  mutating: boolean;
  needs?: Capability;
  run(m: AgentManager, op: OperationScope, v: Validator): Promise<OperationResult>;
}

const done: OperationResult = {};

function need<T>(value: T | undefined, capability: string): T {
  if (!value) throw failedPrecondition(`this datastore does not support ${capability}`);
  return value;
}

function ref<T>(value: T | undefined, field: string): T {
  if (!value) throw invalidArgument(field, 'is required');
  return value;
}

/** Cluster member operations (capability "cluster"). */
function clusterCommand(cmd: Command): CommandSpec | undefined {
  const ops = (m: AgentManager) => need(m.cluster, 'cluster');
  const mutation = (kind: string, fn: (c: ClusterOps, op: OperationScope) => Promise<void>): CommandSpec => ({
    kind,
    mutating: true,
    needs: 'cluster',
    run: async (m, op) => (await fn(ops(m), op), done),
  });
  if (cmd.memberInfo) return { kind: 'member_info', mutating: false, needs: 'cluster', run: async (m, op) => ({ member: await ops(m).memberInfo(op) }) };
  if (cmd.ringView) return { kind: 'ring_view', mutating: false, needs: 'cluster', run: async (m, op) => ({ ring: await ops(m).ringView(op) }) };
  if (cmd.setSeeds) {
    const seeds = cmd.setSeeds.seeds;
    seeds.forEach((s, i) => {
      if (!isIP(s)) throw invalidArgument(`seeds[${i}]`, 'must be an IP address');
    });
    return mutation('set_seeds', (c, op) => c.setSeeds(seeds, op));
  }
  if (cmd.nodeCleanup) return mutation('node_cleanup', (c, op) => c.cleanup(op));
  if (cmd.decommission) return mutation('decommission', (c, op) => c.decommission(op));
  if (cmd.secureCluster) return mutation('secure_cluster', (c, op) => c.secureCluster(op));
  if (cmd.storeAdminCredentials) {
    const { user, password } = cmd.storeAdminCredentials;
    registerSecret(password);
    return mutation('store_admin_credentials', (c, op) => c.storeAdminCredentials(user, password, op));
  }
  return undefined;
}

/** Resolves a command to its spec and the bound call; throws INVALID_ARGUMENT for an empty payload. */
export function resolveCommand(cmd: Command): CommandSpec {
  if (cmd.prepare) {
    const req = cmd.prepare;
    registerSecret(req.cluster?.adminPassword);
    registerSecret(req.restore?.storage?.secretAccessKey);
    return {
      kind: 'prepare',
      mutating: true,
      run: async (m, op, v) => {
        req.databases.forEach((d, i) => v.database(d, `databases[${i}]`));
        req.users.forEach((u, i) => v.user(u, `users[${i}]`));
        if (req.restore) need(m.backup, 'restoring from a backup');
        await m.prepare(req, op);
        return done;
      },
    };
  }
  if (cmd.restart) return { kind: 'restart', mutating: true, run: async (m, op) => (await m.restart(op), done) };
  if (cmd.stop) return { kind: 'stop', mutating: true, run: async (m, op) => (await m.stop(op), done) };
  if (cmd.start) return { kind: 'start', mutating: true, run: async (m, op) => (await m.start(op), done) };
  if (cmd.destroy) return { kind: 'destroy', mutating: true, run: async (m, op) => (await m.destroy(op), done) };
  if (cmd.noop) {
    const echo = cmd.noop.echo;
    return { kind: 'noop', mutating: false, run: async () => ({ noop: { echo } }) };
  }
  if (cmd.createDatabases) {
    const dbs = cmd.createDatabases.databases;
    return {
      kind: 'create_databases',
      mutating: true,
      needs: 'databases',
      run: async (m, op, v) => {
        dbs.forEach((d, i) => v.database(d, `databases[${i}]`));
        await need(m.databases, 'databases').create(dbs, op);
        return done;
      },
    };
  }
  if (cmd.listDatabases) {
    const page = cmd.listDatabases.page ?? { limit: 0, marker: '' };
    return {
      kind: 'list_databases',
      mutating: false,
      needs: 'databases',
      run: async (m, op) => ({ databases: await need(m.databases, 'databases').list(page, op) }),
    };
  }
  if (cmd.deleteDatabase) {
    const { name, force } = cmd.deleteDatabase;
    return {
      kind: 'delete_database',
      mutating: true,
      needs: 'databases',
      run: async (m, op, v) => {
        v.databaseName(name, 'name');
        await need(m.databases, 'databases').delete(name, op, { force });
        return done;
      },
    };
  }
  if (cmd.createUsers) {
    const users = cmd.createUsers.users;
    return {
      kind: 'create_users',
      mutating: true,
      needs: 'users',
      run: async (m, op, v) => {
        users.forEach((u, i) => v.user(u, `users[${i}]`));
        await need(m.users, 'users').create(users, op);
        return done;
      },
    };
  }
  if (cmd.listUsers) {
    const page = cmd.listUsers.page ?? { limit: 0, marker: '' };
    return {
      kind: 'list_users',
      mutating: false,
      needs: 'users',
      run: async (m, op) => ({ users: await need(m.users, 'users').list(page, op) }),
    };
  }
  if (cmd.getUser) {
    const r = cmd.getUser;
    return {
      kind: 'get_user',
      mutating: false,
      needs: 'users',
      run: async (m, op, v) => (v.userRef(r, 'user'), { user: await need(m.users, 'users').get(r, op) }),
    };
  }
  if (cmd.deleteUser) {
    const r = cmd.deleteUser;
    return {
      kind: 'delete_user',
      mutating: true,
      needs: 'users',
      run: async (m, op, v) => (v.userRef(r, 'user'), await need(m.users, 'users').delete(r, op), done),
    };
  }
  if (cmd.changePassword) {
    const { user, password } = cmd.changePassword;
    return {
      kind: 'change_password',
      mutating: true,
      needs: 'users',
      run: async (m, op, v) => {
        v.userRef(ref(user, 'user'), 'user');
        v.password(password, 'password');
        await need(m.users, 'users').changePassword(ref(user, 'user'), password, op);
        return done;
      },
    };
  }
  if (cmd.grantAccess || cmd.revokeAccess) {
    const grant = !!cmd.grantAccess;
    const { user, databases } = (cmd.grantAccess ?? cmd.revokeAccess)!;
    return {
      kind: grant ? 'grant_access' : 'revoke_access',
      mutating: true,
      needs: 'users',
      run: async (m, op, v) => {
        v.userRef(ref(user, 'user'), 'user');
        if (databases.length === 0) throw invalidArgument('databases', 'name at least one database');
        databases.forEach((d, i) => v.databaseName(d, `databases[${i}]`));
        const users = need(m.users, 'users');
        await (grant ? users.grant(ref(user, 'user'), databases, op) : users.revoke(ref(user, 'user'), databases, op));
        return done;
      },
    };
  }
  if (cmd.listAccess) {
    const r = cmd.listAccess;
    return {
      kind: 'list_access',
      mutating: false,
      needs: 'users',
      run: async (m, op, v) => (v.userRef(r, 'user'), { access: { access: await need(m.users, 'users').listAccess(r, op) } }),
    };
  }
  if (cmd.enableRoot) {
    return {
      kind: 'enable_root',
      mutating: true,
      needs: 'root',
      run: async (m, op) => {
        const { user, password } = await need(m.root, 'root').enable(op);
        return { root: { enabled: true, user, password } };
      },
    };
  }
  if (cmd.disableRoot) {
    return {
      kind: 'disable_root',
      mutating: true,
      needs: 'root',
      run: async (m, op) => (await need(m.root, 'root').disable(op), done),
    };
  }
  if (cmd.rootStatus) {
    return {
      kind: 'root_status',
      mutating: false,
      needs: 'root',
      run: async (m, op) => {
        const s = await need(m.root, 'root').status(op);
        return { root: { enabled: s.enabled, user: s.user, password: '' } };
      },
    };
  }
  if (cmd.createBackup) {
    const req = cmd.createBackup;
    registerSecret(req.storage?.secretAccessKey);
    return {
      kind: 'create_backup',
      mutating: true,
      needs: 'backup',
      run: async (m, op) => ({ backup: await need(m.backup, 'backups').create(req, op) }),
    };
  }
  const cluster = clusterCommand(cmd);
  if (cluster) return cluster;
  throw invalidArgument('command', 'has no payload this agent understands');
}
