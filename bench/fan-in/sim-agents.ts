// Simulated agents for bench/fan-in.ts: one process speaks for many agents,
// each with the real protocol and nothing else: enrollment with its one-time
// token and a new key (CSR), its own mutual-TLS channel and AgentGateway
// stream, Hello, heartbeats at the given interval (random phase), answers to
// commands (SUCCEEDED; a no-op echoes), acknowledged sequence numbers with
// replay after a reconnect, and the agent's own jittered backoff when the
// stream breaks. No datastore: the controller's side is what is measured.
// Started by the bench with a JSON job file; reports counts over IPC.
import { readFileSync } from 'node:fs';
import { credentials, type ChannelCredentials, type ClientDuplexStream } from '@grpc/grpc-js';
import { AgentGatewayClient, type AgentMessage, type CertificateResponse, type ControllerMessage, EnrollmentClient } from '../../proto/gen/steward/v1/agent.js';
import { DatastoreStatus } from '../../proto/gen/steward/v1/common.js';
import { backoffDelay } from '../../agent/backoff.js';
import { CHANNEL_OPTIONS } from '../../agent/session.js';
import { createCsr, generateKeyPair, privateKeyToPem } from '../../managers/sdk/pki.js';
import { answer } from '../../managers/sdk/operations/payload.js';
import { updates } from '../../managers/sdk/operations/state.js';

export interface SimJob {
  gateway: string;
  enroll: string;
  caFile: string;
  heartbeatMs: number;
  datastore: string;
  agents: { id: string; token: string }[];
}

const job = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as SimJob;
const ca = readFileSync(job.caFile);
const counts = { enrolled: 0, connected: 0, heartbeats: 0, commands: 0, reconnects: 0 };
const report = () => process.send?.({ type: 'counts', counts });

class SimAgent {
  private stream?: ClientDuplexStream<AgentMessage, ControllerMessage>;
  private client?: AgentGatewayClient;
  private timer?: NodeJS.Timeout;
  private seq = 0;
  private readonly unacked: AgentMessage[] = [];
  private attempt = 0;
  connected = false;

  constructor(readonly id: string) {}

  async enroll(token: string): Promise<void> {
    const keys = await generateKeyPair();
    const csrPem = await createCsr(keys, `agent ${this.id}`);
    const enrollment = new EnrollmentClient(job.enroll, credentials.createSsl(ca));
    const res = await new Promise<CertificateResponse>((resolve, reject) =>
      enrollment.enroll({ token, csrPem, instanceId: this.id }, (err, r) => (err ? reject(err) : resolve(r))),
    );
    enrollment.close();
    const creds: ChannelCredentials = credentials.createSsl(ca, Buffer.from(await privateKeyToPem(keys.privateKey)), Buffer.from(res.certificatePem));
    this.client = new AgentGatewayClient(job.gateway, creds, CHANNEL_OPTIONS);
    counts.enrolled++;
  }

  dial(): void {
    const stream = this.client!.connect();
    this.stream = stream;
    stream.on('data', (m: ControllerMessage) => this.onMessage(m));
    const broken = () => this.onBroken(stream);
    stream.on('error', broken);
    stream.on('end', broken);
    stream.write({
      seq: 0,
      body: {
        $case: 'hello',
        value: {
          instanceId: this.id,
          datastore: job.datastore,
          datastoreVersion: '7.0.15',
          capabilities: ['users', 'root'],
          agentVersion: 'sim',
          heartbeatIntervalMs: job.heartbeatMs,
          knownOperations: [],
          writeLeaseMs: 0,
          endpointHost: '127.0.0.1',
          endpointPort: 6379,
        },
      },
    });
  }

  private onMessage(m: ControllerMessage): void {
    const body = m.body;
    if (body?.$case === 'welcome') {
      this.drop(Number(body.value.ackedSeq));
      if (this.seq < Number(body.value.ackedSeq)) this.seq = Number(body.value.ackedSeq);
      for (const msg of this.unacked) this.stream?.write(msg);
      this.connected = true;
      this.attempt = 0;
      counts.connected++;
      // A random phase: agents started together do not beat together.
      this.timer = setTimeout(() => {
        this.beat();
        this.timer = setInterval(() => this.beat(), job.heartbeatMs);
      }, Math.random() * job.heartbeatMs);
      this.beat();
    } else if (body?.$case === 'ack') {
      this.drop(Number(body.value.seq));
    } else if (body?.$case === 'command') {
      counts.commands++;
      const cmd = body.value;
      const result = cmd.payload?.$case === 'noop' ? answer('noop', { echo: cmd.payload.value.echo }) : { result: undefined };
      const msg: AgentMessage = { seq: ++this.seq, body: { $case: 'update', value: updates.succeeded(cmd.operationId, result) } };
      this.unacked.push(msg);
      this.stream?.write(msg);
    }
  }

  private drop(acked: number): void {
    while (this.unacked.length && this.unacked[0]!.seq <= acked) this.unacked.shift();
  }

  private beat(): void {
    if (!this.connected) return;
    counts.heartbeats++;
    this.stream?.write({
      seq: 0,
      body: {
        $case: 'heartbeat',
        value: { status: DatastoreStatus.HEALTHY, facts: {}, datastoreVersion: '7.0.15', replication: undefined, sentUnixMs: Date.now() },
      },
    });
  }

  private onBroken(stream: ClientDuplexStream<AgentMessage, ControllerMessage>): void {
    if (stream !== this.stream) return;
    this.stream = undefined;
    clearTimeout(this.timer);
    clearInterval(this.timer);
    if (this.connected) counts.connected--;
    this.connected = false;
    stream.removeAllListeners('data');
    stream.on('error', () => undefined);
    stream.cancel();
    counts.reconnects++;
    setTimeout(() => this.dial(), backoffDelay(this.attempt++));
  }
}

const agents = job.agents.map((a) => new SimAgent(a.id));
// Enrollment 16 at a time per process: key generation and signing are the work.
let next = 0;
await Promise.all(
  Array.from({ length: 16 }, async () => {
    while (next < agents.length) {
      const i = next++;
      await agents[i]!.enroll(job.agents[i]!.token);
      agents[i]!.dial();
    }
  }),
);
report();
setInterval(report, 1_000);
process.on('message', (m: { type: string }) => {
  if (m.type === 'stop') process.exit(0);
});
