// The baseline every Steward round trip is compared with: a bare grpc-js unary
// echo on loopback (bytes in, bytes out, no proto, no store, no agent).
import { Server, ServerCredentials, makeGenericClientConstructor, credentials, type ChannelCredentials, type Client } from '@grpc/grpc-js';
import { generateKeyPair, privateKeyToPem } from '../managers/sdk/pki.js';

const identity = (b: Buffer) => b;
const ECHO = {
  echo: {
    path: '/bench.Echo/Echo',
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
} as const;

export async function startEchoServer(creds = ServerCredentials.createInsecure()): Promise<{ address: string; stop(): void }> {
  const server = new Server();
  server.addService(ECHO, { echo: (call: { request: Buffer }, cb: (e: null, r: Buffer) => void) => cb(null, call.request) });
  const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', creds, (e, p) => (e ? rej(e) : res(p))));
  return { address: `127.0.0.1:${port}`, stop: () => server.forceShutdown() };
}

export function echoClient(address: string, creds: ChannelCredentials = credentials.createInsecure()) {
  const Ctor = makeGenericClientConstructor(ECHO, 'Echo');
  const client = new Ctor(address, creds) as unknown as Client & { echo(b: Buffer, cb: (e: Error | null, r: Buffer) => void): void };
  return {
    echo: (payload: Buffer) => new Promise<Buffer>((res, rej) => client.echo(payload, (e, r) => (e ? rej(e) : res(r)))),
    close: () => client.close(),
  };
}

/**
 * The TLS baseline of the control-plane benches: an echo server with a
 * certificate from `ca` on loopback and a client trusting only that CA.
 */
export async function tlsEcho(ca: {
  certPem: string;
  issueServerCertificate(key: CryptoKey, hosts: string[], lifetimeMs: number): Promise<{ pem: string }>;
}): Promise<{ echo(payload: Buffer): Promise<Buffer>; close(): void }> {
  const keys = await generateKeyPair();
  const cert = await ca.issueServerCertificate(keys.publicKey, ['127.0.0.1'], 3600_000);
  const server = await startEchoServer(
    ServerCredentials.createSsl(null, [{ private_key: Buffer.from(await privateKeyToPem(keys.privateKey)), cert_chain: Buffer.from(cert.pem) }]),
  );
  const client = echoClient(server.address, credentials.createSsl(Buffer.from(ca.certPem)));
  return {
    echo: client.echo,
    close: () => {
      client.close();
      server.stop();
    },
  };
}
