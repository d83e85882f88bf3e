// Cost of mutual TLS on the agent link: connection set-up (new channel, first
// call answered) and round-trip time, mutual TLS against plain text, in one run,
// with the same raw grpc-js echo service and certificates from Steward's CA.
//   npx tsx bench/mtls.ts [connections] [roundTrips]
import { credentials, ServerCredentials } from '@grpc/grpc-js';
import { CertificateAuthority } from '../controller/pki/ca.js';
import { createCsr, generateKeyPair, privateKeyToPem } from '../managers/sdk/pki.js';
import { tempDir } from '../test/fixtures/controller.js';
import { startEchoServer, echoClient } from './raw-grpc.js';
import { summarize, timeEach, ms, ratio } from './stats.js';

const CONNECTIONS = Number(process.argv[2] ?? 100);
const ROUND_TRIPS = Number(process.argv[3] ?? 1000);

const ca = await CertificateAuthority.loadOrCreate(tempDir('bench-ca-'));
const serverKeys = await generateKeyPair();
const serverCert = await ca.issueServerCertificate(serverKeys.publicKey, ['127.0.0.1', 'localhost'], 3600_000);
const clientKeys = await generateKeyPair();
const clientCert = await ca.issueAgentCertificate(await createCsr(clientKeys, 'bench'), 'bench-instance', 3600_000);
const caPem = Buffer.from(ca.certPem);
const serverPair = { private_key: Buffer.from(await privateKeyToPem(serverKeys.privateKey)), cert_chain: Buffer.from(serverCert.pem) };
const clientKeyPem = Buffer.from(await privateKeyToPem(clientKeys.privateKey));
const clientCreds = () => credentials.createSsl(caPem, clientKeyPem, Buffer.from(clientCert.pem));

const plainServer = await startEchoServer();
const mtlsServer = await startEchoServer(ServerCredentials.createSsl(caPem, [serverPair], true));
const payload = Buffer.from('x'.repeat(64));

async function setup(address: string, creds: () => ReturnType<typeof credentials.createInsecure>): Promise<number[]> {
  return timeEach(CONNECTIONS, async () => {
    const c = echoClient(address, creds());
    await c.echo(payload);
    c.close();
  });
}

async function rtt(address: string, creds: ReturnType<typeof credentials.createInsecure>): Promise<number[]> {
  const c = echoClient(address, creds);
  await timeEach(100, () => c.echo(payload));
  const out = await timeEach(ROUND_TRIPS, () => c.echo(payload));
  c.close();
  return out;
}

const plainSetup = summarize(await setup(plainServer.address, () => credentials.createInsecure()));
const mtlsSetup = summarize(await setup(mtlsServer.address, clientCreds));
const plainRtt = summarize(await rtt(plainServer.address, credentials.createInsecure()));
const mtlsRtt = summarize(await rtt(mtlsServer.address, clientCreds()));
console.log(`connection set-up (new channel + first call), ${CONNECTIONS} connections:`);
console.log(`  plain text:  p50 ${ms(plainSetup.p50)}  p90 ${ms(plainSetup.p90)}`);
console.log(`  mutual TLS:  p50 ${ms(mtlsSetup.p50)}  p90 ${ms(mtlsSetup.p90)}   ratio ${ratio(mtlsSetup.p50, plainSetup.p50)}`);
console.log(`round trip on an open channel, ${ROUND_TRIPS} calls:`);
console.log(`  plain text:  p50 ${ms(plainRtt.p50)}  p99 ${ms(plainRtt.p99)}`);
console.log(`  mutual TLS:  p50 ${ms(mtlsRtt.p50)}  p99 ${ms(mtlsRtt.p99)}   ratio ${ratio(mtlsRtt.p50, plainRtt.p50)}`);
plainServer.stop();
mtlsServer.stop();
