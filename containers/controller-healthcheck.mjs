// The controller image's HEALTHCHECK: one call of the standard gRPC health
// service ('' = the whole server) on the TLS API port, trusting only the
// controller's own CA. Plain HTTP/2 from Node, so the image needs no client
// tool: a request frame of an empty HealthCheckRequest, and SERVING (field 1 =
// 1) in the answer with grpc-status 0.
import { readFileSync } from 'node:fs';
import { connect } from 'node:http2';

const listen = process.env.STEWARD_LISTEN ?? '0.0.0.0:50051';
const split = listen.lastIndexOf(':');
const host = listen.slice(0, split);
const target = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host;
const fail = () => process.exit(1);
setTimeout(fail, 4_000).unref();
const session = connect(`https://${target}:${listen.slice(split + 1)}`, { ca: readFileSync('/var/lib/steward-controller/pki/ca.pem') });
session.on('error', fail);
const req = session.request({ ':method': 'POST', ':path': '/grpc.health.v1.Health/Check', 'content-type': 'application/grpc', te: 'trailers' });
const chunks = [];
let status;
req.on('data', (c) => chunks.push(c));
req.on('trailers', (t) => (status = t['grpc-status']));
req.on('error', fail);
req.on('end', () => {
  const body = Buffer.concat(chunks);
  process.exit(status === '0' && body.length >= 7 && body[5] === 0x08 && body[6] === 1 ? 0 : 1);
});
req.end(Buffer.alloc(5));
