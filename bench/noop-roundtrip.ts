// Round trip of a no-op operation: stewardctl-style API call -> controller
// (store, operation row) -> agent over mutual TLS (journal) -> back, against a
// raw grpc-js unary round trip on loopback, both with TLS, in the same run.
//   npx tsx bench/noop-roundtrip.ts [iterations]
import { call, startTestController, waitFor } from '../test/fixtures/controller.js';
import { CreateInstanceRequest, type CreateInstanceResponse, type Instance } from '../proto/gen/steward/v1/api.js';
import { tlsEcho } from './raw-grpc.js';
import { summarize, timeEach, ms, ratio } from './stats.js';

const N = Number(process.argv[2] ?? 300);
const t = await startTestController();
try {
  const res = await call<object, CreateInstanceResponse>(
    t.clients.instances,
    'create',
    CreateInstanceRequest.fromPartial({ name: 'bench', datastore: 'noop-fixture' }),
  );
  const id = res.instance!.id;
  await waitFor('agent', async () => (await call<object, Instance>(t.clients.instances, 'get', { id })).agentConnected);

  // Raw baseline with a TLS server certificate from the same CA.
  const raw = await tlsEcho(t.controller.security.ca);
  const payload = Buffer.from('ping');
  await timeEach(50, () => raw.echo(payload)); // warm-up
  await timeEach(20, () => call(t.clients.instances, 'ping', { instanceId: id, echo: 'w' }));

  const rawS = summarize(await timeEach(N, () => raw.echo(payload)));
  const stwS = summarize(await timeEach(N, () => call(t.clients.instances, 'ping', { instanceId: id, echo: 'x' })));
  console.log(`no-op round trip, ${N} sequential calls, TLS on both:`);
  console.log(`  raw grpc-js unary:        p50 ${ms(rawS.p50)}  p90 ${ms(rawS.p90)}  p99 ${ms(rawS.p99)}`);
  console.log(`  Steward API -> agent:     p50 ${ms(stwS.p50)}  p90 ${ms(stwS.p90)}  p99 ${ms(stwS.p99)}`);
  console.log(`  ratio (p50): ${ratio(stwS.p50, rawS.p50)}  overhead (p50): ${ms(stwS.p50 - rawS.p50)}`);
  raw.close();
} finally {
  await t.close();
}
