// The agent's one stream to the controller. Dials out, says Hello, replays the
// unacknowledged outbox after the controller's Welcome, heartbeats, and hands
// commands to the executor. Any failure closes the stream and redials with
// backoff; the journal makes the redial lossless.
import { credentials as grpcCredentials, Metadata, type ChannelCredentials, type ClientDuplexStream } from '@grpc/grpc-js';
import { AgentGatewayClient, type AgentMessage, type ControllerMessage, type Heartbeat, type Hello } from '../proto/gen/steward/v1/agent.js';
import type { Logger } from '../managers/sdk/logger.js';
import { backoffDelay, DEFAULT_BACKOFF, type BackoffPolicy } from './backoff.js';
import type { Executor } from './executor.js';
import type { Journal } from './journal.js';

export interface SessionDeps {
  address: string;
  credentials?: ChannelCredentials;
  journal: Journal;
  executor: () => Executor;
  hello: () => Hello;
  /** The heartbeat to send now (the prober's last answer, with replication as the agent knows it). */
  heartbeat: () => Omit<Heartbeat, 'sentUnixMs'>;
  heartbeatIntervalMs: number;
  /** The controller granted a primary's write lease from when that heartbeat was sent (agent's clock). */
  onLeaseGrant?: (heartbeatSentAtMs: number) => void;
  log: Logger;
  backoff?: BackoffPolicy;
  onStateChange?: (connected: boolean) => void;
}

export const CHANNEL_OPTIONS = {
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.initial_reconnect_backoff_ms': 200,
  'grpc.max_reconnect_backoff_ms': 5_000,
};

export class Session {
  private client?: AgentGatewayClient;
  private stream?: ClientDuplexStream<AgentMessage, ControllerMessage>;
  private connected = false;
  private lastSentSeq = 0;
  private attempt = 0;
  private heartbeatTimer?: NodeJS.Timeout;
  private waitingTimer?: NodeJS.Timeout;
  private redialTimer?: NodeJS.Timeout;
  private stopped = false;
  /** Counts for the health endpoint and tests. */
  readonly stats = { connects: 0, heartbeats: 0, disconnects: 0 };

  constructor(private readonly deps: SessionDeps) {}

  get isConnected(): boolean {
    return this.connected;
  }

  start(): void {
    this.client = new AgentGatewayClient(this.deps.address, this.deps.credentials ?? grpcCredentials.createInsecure(), CHANNEL_OPTIONS);
    this.dial();
  }

  /** Switches to new credentials (a renewed certificate): a new channel, then a quick redial. */
  replaceCredentials(creds: ChannelCredentials): void {
    const old = this.client;
    this.client = new AgentGatewayClient(this.deps.address, creds, CHANNEL_OPTIONS);
    const wasConnected = this.connected;
    this.teardown();
    old?.close();
    if (wasConnected) this.deps.onStateChange?.(false);
    if (!this.stopped) this.dial();
  }

  /** Sends every journaled message the controller has not seen yet (called after each journal write). */
  flush(): void {
    if (!this.connected || !this.stream) return;
    for (const msg of this.deps.journal.pendingAfter(this.lastSentSeq)) {
      this.stream.write(msg);
      this.lastSentSeq = msg.seq;
    }
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.redialTimer);
    this.teardown();
    this.client?.close();
  }

  private dial(): void {
    if (this.stopped || !this.client) return;
    // waitForReady: while the controller is away the call waits for the channel,
    // which retries the connection itself (at most CHANNEL_OPTIONS' 5 s apart),
    // instead of failing at once and growing this session's own backoff to its
    // 15 s cap: a fleet is back within seconds of a controller restart.
    const stream = this.client.connect(new Metadata({ waitForReady: true }));
    this.stream = stream;
    this.watchWaiting(stream);
    stream.on('data', (msg: ControllerMessage) => this.onMessage(msg));
    stream.on('error', (err) => this.onBroken(stream, err.message));
    stream.on('end', () => this.onBroken(stream, 'controller closed the stream'));
    stream.write({ seq: 0, body: { $case: 'hello', value: this.deps.hello() } });
  }

  /** While a dial waits for the controller, says so every 30 s (a waiting call itself is silent). */
  private watchWaiting(stream: ClientDuplexStream<AgentMessage, ControllerMessage>): void {
    clearInterval(this.waitingTimer);
    const since = Date.now();
    this.waitingTimer = setInterval(() => {
      if (this.stream !== stream || this.connected) return clearInterval(this.waitingTimer);
      this.deps.log.warn({ controller: this.deps.address, waitingS: Math.round((Date.now() - since) / 1000) }, 'waiting for the controller');
    }, 30_000);
    this.waitingTimer.unref();
  }

  private onMessage(msg: ControllerMessage): void {
    const { journal, log } = this.deps;
    const body = msg.body;
    switch (body?.$case) {
      case 'welcome': {
        const { ackedSeq } = body.value;
        journal.acknowledge(ackedSeq);
        this.lastSentSeq = ackedSeq;
        this.connected = true;
        this.attempt = 0;
        this.stats.connects++;
        log.info({ ackedSeq }, 'connected to controller');
        this.deps.onStateChange?.(true);
        this.flush();
        this.heartbeat();
        this.heartbeatTimer = setInterval(() => this.heartbeat(), this.deps.heartbeatIntervalMs);
        return;
      }
      case 'ack':
        return journal.acknowledge(body.value.seq);
      case 'command':
        return this.deps.executor().submit(body.value);
      case 'cancel':
        return this.deps.executor().cancel(body.value.operationId);
      case 'lease':
        return this.deps.onLeaseGrant?.(Number(body.value.heartbeatSentUnixMs));
    }
  }

  /** Sends a heartbeat now (a changed status goes out at once, not at the next tick). */
  heartbeat(): void {
    if (!this.connected || !this.stream) return;
    this.stream.write({ seq: 0, body: { $case: 'heartbeat', value: { ...this.deps.heartbeat(), sentUnixMs: Date.now() } } });
    this.stats.heartbeats++;
  }

  private onBroken(stream: ClientDuplexStream<AgentMessage, ControllerMessage>, reason: string): void {
    if (stream !== this.stream) return; // an old stream's late event
    const wasConnected = this.connected;
    this.teardown();
    if (this.stopped) return;
    if (wasConnected) {
      this.stats.disconnects++;
      this.deps.onStateChange?.(false);
    }
    const delay = backoffDelay(this.attempt++, this.deps.backoff ?? DEFAULT_BACKOFF);
    this.deps.log.warn({ reason, retryInMs: delay }, 'controller stream lost; redialling');
    this.redialTimer = setTimeout(() => this.dial(), delay);
  }

  private teardown(): void {
    clearInterval(this.heartbeatTimer);
    clearInterval(this.waitingTimer);
    this.connected = false;
    const s = this.stream;
    this.stream = undefined;
    if (s) {
      s.removeAllListeners('data');
      s.on('error', () => undefined);
      s.cancel();
    }
  }
}
