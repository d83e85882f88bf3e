// AgentGateway.Connect: one bidirectional stream per agent. The first message
// must be Hello. Messages with a sequence number are applied once (the stored
// acked_seq dedupes replays) and acknowledged; heartbeats are applied as they come.
import { status } from '@grpc/grpc-js';
import type { AgentGatewayServer, AgentMessage, ControllerMessage, Hello } from '../proto/gen/steward/v1/agent.js';
import type { Logger } from '../managers/sdk/logger.js';
import { StewardError } from '../managers/sdk/errors.js';
import { grpcCode, unary } from './grpc-status.js';
import type { Security } from './security.js';
import type { AgentRegistry } from './agent-registry.js';
import type { OperationService } from './operations.js';
import type { Store } from './store/open.js';
import { nowIso } from './clock.js';
import { isPrimaryReport } from './replication/report.js';
import type { HeartbeatRecorder } from './heartbeats.js';

export interface GatewayDeps {
  store: Store;
  agents: AgentRegistry;
  operations: OperationService;
  log: Logger;
  security: Security;
  heartbeats: HeartbeatRecorder;
  /** Replica sets: who holds a write lease, and a look at a member's set on each of its heartbeats. */
  replication?: {
    grantsLease(instanceId: string): Promise<boolean>;
    onHeartbeat(instanceId: string): Promise<void>;
  };
}

type PeerCall = { getAuthContext(): { sslPeerCertificate?: import('node:tls').PeerCertificate } };

/**
 * The instance a connection speaks for: the verified client certificate decides,
 * never a field inside a message. Only the development mode (no TLS) falls back
 * to what the Hello says.
 */
async function identify(deps: GatewayDeps, call: PeerCall, hello?: Hello): Promise<string> {
  if (deps.security.insecure) {
    if (!hello) throw new StewardError('FAILED_PRECONDITION', 'certificates are not used in insecure development mode');
    const inst = await deps.store.selectFrom('instances').select('id').where('id', '=', hello.instanceId).where('deleted_at', 'is', null).executeTakeFirst();
    if (!inst) throw new StewardError('NOT_FOUND', `unknown instance ${hello.instanceId}`);
    return inst.id;
  }
  const id = await deps.security.identify(call.getAuthContext().sslPeerCertificate);
  if (hello?.instanceId && hello.instanceId !== id) {
    deps.log.warn({ instanceId: id, claimed: hello.instanceId }, 'Hello claims another instance: ignored, the certificate decides');
  }
  return id;
}

export function agentGateway(deps: GatewayDeps): AgentGatewayServer {
  return {
    connect(call) {
      let instanceId: string | undefined;
      // The highest sequence applied for this agent: read once at Hello, then
      // kept here (this stream is the agent's only writer) instead of re-read per message.
      const applied = { seq: 0 };
      let chain = Promise.resolve();
      const handle = {
        send: (msg: ControllerMessage) => {
          if (!call.writableEnded && !call.destroyed) call.write(msg);
        },
        close: (reason: string) => {
          deps.log.info({ instanceId, reason }, 'closing agent stream');
          call.end();
        },
      };
      const fail = (code: status, message: string) => {
        deps.log.warn({ instanceId, message }, 'agent stream refused');
        call.destroy(Object.assign(new Error(message), { code, details: message }));
      };
      call.on('data', (msg: AgentMessage) => {
        const arrived = performance.now();
        chain = chain
          .then(async () => {
            if (!instanceId) {
              if (msg.body?.$case !== 'hello') return fail(status.FAILED_PRECONDITION, 'the first message must be Hello');
              instanceId = await identify(deps, call, msg.body.value);
              applied.seq = await onHello(deps, instanceId, msg.body.value);
              deps.agents.attach(instanceId, handle);
              handle.send({ body: { $case: 'welcome', value: { ackedSeq: applied.seq } } });
              await deps.operations.redeliver(instanceId);
              return;
            }
            await onMessage(deps, instanceId, msg, handle, applied);
            if (msg.body?.$case === 'heartbeat') deps.heartbeats.handled(arrived);
          })
          .catch((err) => fail(err instanceof StewardError ? grpcCode(err.code) : status.INTERNAL, (err as Error).message));
      });
      const gone = () => {
        if (instanceId) {
          deps.agents.detach(instanceId, handle);
          deps.log.info({ instanceId }, 'agent disconnected');
        }
      };
      call.on('end', () => {
        gone();
        call.end();
      });
      call.on('error', gone);
      call.on('close', gone);
    },
    renew: unary(deps.log, 'AgentGateway.Renew', async (req, call) => {
      const id = await identify(deps, call);
      return deps.security.renew(id, req.csrPem);
    }),
    issueDatastoreCertificate: unary(deps.log, 'AgentGateway.IssueDatastoreCertificate', async (req, call) => {
      const id = await identify(deps, call);
      return deps.security.issueDatastoreCertificate(id, req.csrPem);
    }),
  };
}

async function onHello(deps: GatewayDeps, instanceId: string, hello: Hello): Promise<number> {
  const existing = await deps.store.selectFrom('agents').selectAll().where('instance_id', '=', instanceId).executeTakeFirst();
  const fields = {
    agent_version: hello.agentVersion,
    datastore: hello.datastore,
    datastore_version: hello.datastoreVersion,
    capabilities: JSON.stringify(hello.capabilities),
    heartbeat_interval_ms: hello.heartbeatIntervalMs || 10_000,
    write_lease_ms: hello.writeLeaseMs,
  };
  // Connecting is a sign of life: until its first heartbeat, an agent busy with a long prepare is not "lost".
  deps.agents.seen(instanceId);
  if (!existing) {
    await deps.store
      .insertInto('agents')
      .values({ instance_id: instanceId, status: 0, facts: '{}', acked_seq: 0, replication: null, last_heartbeat_at: nowIso(), ...fields })
      .execute();
  } else if (Object.entries(fields).some(([k, v]) => existing[k as keyof typeof fields] !== v)) {
    // A reconnect that changes nothing (a controller restart, a network blip) writes nothing.
    await deps.store.updateTable('agents').set(fields).where('instance_id', '=', instanceId).execute();
  }
  deps.heartbeats.primeFrom({
    instance_id: instanceId,
    status: existing?.status ?? 0,
    facts: existing?.facts ?? '{}',
    datastore_version: fields.datastore_version,
    replication: existing?.replication ?? null,
  });
  // An instance provisioned outside the controller learns where its datastore is from its agent.
  if (hello.endpointHost && hello.endpointPort) {
    await deps.store
      .updateTable('instances')
      .set({ host: hello.endpointHost, port: hello.endpointPort })
      .where('id', '=', instanceId)
      .where((eb) => eb.or([eb('host', '=', ''), eb('port', '=', 0)]))
      .execute();
  }
  deps.log.info({ instanceId, agentVersion: hello.agentVersion, datastore: hello.datastore }, 'agent connected');
  return Number(existing?.acked_seq ?? 0);
}

async function onMessage(
  deps: GatewayDeps,
  instanceId: string,
  msg: AgentMessage,
  handle: { send(m: ControllerMessage): void },
  applied: { seq: number },
): Promise<void> {
  const body = msg.body;
  if (body?.$case === 'heartbeat') {
    const hb = body.value;
    await deps.heartbeats.record(instanceId, hb, Date.now());
    if (!deps.replication) return;
    if (isPrimaryReport(hb.replication) && (await deps.replication.grantsLease(instanceId))) {
      handle.send({ body: { $case: 'lease', value: { heartbeatSentUnixMs: hb.sentUnixMs } } });
    }
    void deps.replication.onHeartbeat(instanceId);
    return;
  }
  if (msg.seq <= 0) return;
  const ack = (seq: number) => handle.send({ body: { $case: 'ack', value: { seq } } });
  if (msg.seq <= applied.seq) return ack(applied.seq); // a replay we already applied
  if (body?.$case === 'update') await deps.operations.applyUpdate(instanceId, body.value);
  if (body?.$case === 'event') deps.log.info({ instanceId, eventType: body.value.eventType }, 'agent event');
  // Guarded: a stream replaced by a newer one can never move the mark backwards.
  await deps.store.updateTable('agents').set({ acked_seq: msg.seq }).where('instance_id', '=', instanceId).where('acked_seq', '<', msg.seq).execute();
  applied.seq = msg.seq;
  ack(msg.seq);
}
