// Time to put a dynamic parameter value in force through Steward (a group
// update reaching the instance: the operation accepted, the agent recording
// it, rendering my.cnf and SET GLOBAL, the outcome back) against the same
// statement sent directly to the same server, in the same run.
//   npx tsx bench/configuration-apply.ts [rounds]
import mysql from 'mysql2/promise';
import { CreateInstanceRequest, type CreateInstanceResponse, type Instance } from '../proto/gen/steward/v1/api.js';
import { DatastoreStatus, type Operation, type RootResult } from '../proto/gen/steward/v1/common.js';
import {
  CreateConfigurationRequest,
  UpdateConfigurationRequest,
  type ConfigurationGroup,
  type UpdateConfigurationResponse,
} from '../proto/gen/steward/v1/configurations.js';
import { call, startTestController, waitFor } from '../test/fixtures/controller.js';
import { ms, ratio, summarize } from './stats.js';

const ROUNDS = Number(process.argv[2] ?? 30);

const t = await startTestController({ provisioner: { heartbeatIntervalMs: 1000 } });
try {
  const group = await call<object, ConfigurationGroup>(
    t.clients.configurations,
    'create',
    CreateConfigurationRequest.fromPartial({ name: 'bench', datastore: 'mysql', values: { max_connections: '100' } }),
  );
  const res = await call<object, CreateInstanceResponse>(
    t.clients.instances,
    'create',
    CreateInstanceRequest.fromPartial({
      name: 'bench-config',
      datastore: 'mysql',
      memoryMb: 256,
      configurationId: group.id,
    }),
  );
  const id = res.instance!.id;
  const inst = await waitFor(
    'HEALTHY',
    async () => {
      const i = await call<object, Instance>(t.clients.instances, 'get', { id });
      return i.status === DatastoreStatus.HEALTHY && i;
    },
    180_000,
    50,
  );
  // root (enabled through Steward) sends the direct statement over TCP, as an operator would.
  const root = await call<object, RootResult>(t.clients.root, 'enable', { id });
  const direct = await mysql.createConnection({ host: inst.host, port: inst.port, user: root.user, password: root.password });
  const viaSteward: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const value = 200 + (i % 50);
    const t0 = performance.now();
    await direct.query(`SET GLOBAL max_connections = ${value}`);
    bare.push(performance.now() - t0);

    const t1 = performance.now();
    const up = await call<object, UpdateConfigurationResponse>(
      t.clients.configurations,
      'update',
      UpdateConfigurationRequest.fromPartial({ id: group.id, values: { max_connections: String(value + 1) } }),
    );
    const done = await call<object, Operation>(t.clients.operations, 'wait', { id: up.operations[0]!.id, timeoutMs: 60_000 });
    viaSteward.push(performance.now() - t1);
    if (done.error) throw new Error(done.error.message);
  }
  const [[row]] = (await direct.query('SELECT @@GLOBAL.max_connections AS n')) as unknown as [[{ n: number }]];
  if (Number(row.n) !== 200 + ((ROUNDS - 1) % 50) + 1) throw new Error(`the server has max_connections ${row.n}, not the last value applied`);
  await direct.end();
  const s = summarize(viaSteward);
  const b = summarize(bare);
  console.log(`dynamic parameter in force, MariaDB, ${ROUNDS} rounds (instance ${inst.id}):`);
  console.log(`  direct SET GLOBAL max_connections:                 p50 ${ms(b.p50)}  p90 ${ms(b.p90)}`);
  console.log(`  Steward group update -> operation SUCCEEDED:       p50 ${ms(s.p50)}  p90 ${ms(s.p90)}`);
  console.log(`  ratio (p50): ${ratio(s.p50, b.p50)}  Steward overhead (p50): ${ms(s.p50 - b.p50)}`);
} finally {
  await t.close();
}
