// `openstack database instance list` against Steward's Trove API with 100
// instances (no-op manager: real agents, real controller, TLS), next to the
// same command against a static HTTPS server that answers every request with
// the very body Steward gave (the same TLS certificate chain), in the same
// run: the difference is what Steward's side costs, the rest is the client's
// own (Python start-up, argument parsing, table output). Also the bare HTTP
// round trip of both servers, without the client.
//   npx tsx bench/trove-list.ts [instances] [runs]
import { createServer } from 'node:https';
import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { generateKeyPair, privateKeyToPem } from '../managers/sdk/pki.js';
import { startTestController } from '../test/fixtures/controller.js';
import { openstackCli } from '../test/fixtures/python.js';
import { ALL_TENANTS } from '../controller/tenancy.js';

const INSTANCES = Number(process.argv[2] ?? 100);
const RUNS = Number(process.argv[3] ?? 15);
const HTTP_RUNS = 200;

function get(url: string, ca: Buffer, token: string): Promise<{ ms: number; body: string }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, headers: { 'X-Auth-Token': token, Accept: 'application/json' }, agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ ms: performance.now() - t0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];
const fmt = (xs: number[]) => `median ${q(xs, 0.5).toFixed(1)} ms, p90 ${q(xs, 0.9).toFixed(1)} ms`;

async function main(): Promise<void> {
  console.log(`trove-list: ${INSTANCES} instances, ${RUNS} client runs and ${HTTP_RUNS} bare requests per server, interleaved`);
  console.log(
    `machine: ${cpus().length} CPUs, load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} at the start\n`,
  );
  // One page holds them all (Trove's default page size is 20).
  const t = await startTestController({
    trove: { enabled: true, listen: '127.0.0.1:0', pageSize: Math.max(INSTANCES, 20) },
    provisioner: { heartbeatIntervalMs: 10_000 },
  });
  let stat: ReturnType<typeof createServer> | undefined;
  try {
    const url = t.controller.troveUrl!;
    const ca = readFileSync(t.controller.caFile);
    const token = t.controller.adminToken;
    const os = openstackCli(`${url}/v1.0/admin`, token, t.controller.caFile);
    for (let i = 0; i < INSTANCES; i++) {
      const r = await os.run('database', 'instance', 'create', `bench-${i}`, '--flavor', '128', '--datastore', 'noop-fixture');
      if (r.code !== 0) throw new Error(r.stderr);
    }
    for (;;) {
      const rows = await t.controller.instances.list(ALL_TENANTS);
      if (rows.length === INSTANCES && rows.every((r) => r.task === 'NONE')) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const path = `/v1.0/admin/instances?limit=${INSTANCES}`;
    const { body } = await get(`${url}${path}`, ca, token);
    const count = (JSON.parse(body) as { instances: unknown[] }).instances.length;
    if (count !== INSTANCES) throw new Error(`the list has ${count} instances`);

    // The static server: same CA, the same body for any request.
    const keys = await generateKeyPair();
    const cert = await t.controller.security.ca.issueServerCertificate(keys.publicKey, ['127.0.0.1', 'localhost'], 3600_000, 'static');
    stat = createServer({ key: await privateKeyToPem(keys.privateKey), cert: cert.pem }, (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    });
    await new Promise<void>((r) => stat!.listen(0, '127.0.0.1', r));
    const staticUrl = `https://127.0.0.1:${(stat.address() as AddressInfo).port}`;
    const staticOs = openstackCli(`${staticUrl}/v1.0/admin`, token, t.controller.caFile);
    console.log(`body: ${Buffer.byteLength(body)} bytes, ${count} instances\n`);

    const cli = { steward: [] as number[], static: [] as number[] };
    const timed = async (o: ReturnType<typeof openstackCli>) => {
      const t0 = performance.now();
      const r = await o.run('database', 'instance', 'list', '--limit', String(INSTANCES), '-f', 'json');
      if (r.code !== 0 || (JSON.parse(r.stdout) as unknown[]).length !== INSTANCES) throw new Error(`list failed: ${r.stderr}`);
      return performance.now() - t0;
    };
    await timed(os);
    await timed(staticOs); // warm-up: the first run pays for Python's byte-code caches
    for (let i = 0; i < RUNS; i++) {
      cli.steward.push(await timed(os));
      cli.static.push(await timed(staticOs));
    }
    const http = { steward: [] as number[], static: [] as number[] };
    for (let i = 0; i < HTTP_RUNS; i++) {
      http.steward.push((await get(`${url}${path}`, ca, token)).ms);
      http.static.push((await get(`${staticUrl}${path}`, ca, token)).ms);
    }
    console.log('`openstack database instance list` (a new Python process each time):');
    console.log(`  against Steward:        ${fmt(cli.steward)}`);
    console.log(`  against a static body:  ${fmt(cli.static)}`);
    console.log(
      `  Steward's share: ${(q(cli.steward, 0.5) - q(cli.static, 0.5)).toFixed(1)} ms of the median; ratio ${(q(cli.steward, 0.5) / q(cli.static, 0.5)).toFixed(2)}`,
    );
    console.log('\nthe same GET without the client (a new TLS connection each time):');
    console.log(`  Steward:        ${fmt(http.steward)}`);
    console.log(`  static server:  ${fmt(http.static)}`);
    console.log(`  ratio ${(q(http.steward, 0.5) / q(http.static, 0.5)).toFixed(2)}`);
  } finally {
    stat?.close();
    await t.close();
  }
}

await main();
