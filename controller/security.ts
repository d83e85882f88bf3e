// Everything about who may talk to the controller: the CA and the two TLS
// endpoints (API: server-authenticated TLS + bearer tokens; agent gateway:
// mutual TLS), enrollment of agents, certificate renewal and revocation.
import { ServerCredentials } from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import { join } from 'node:path';
import { generateKeyPair, instanceIdFromSan, privateKeyToPem } from '../managers/sdk/pki.js';
import { registerSecret } from '../managers/sdk/redact.js';
import { StewardError } from '../managers/sdk/errors.js';
import type { Logger } from '../managers/sdk/logger.js';
import type { CertificateResponse } from '../proto/gen/steward/v1/agent.js';
import { CertificateAuthority, type IssuedCertificate } from './pki/ca.js';
import { ApiTokens, EnrollmentTokens } from './tokens.js';
import type { Store } from './store/open.js';
import { nowIso } from './clock.js';

const SERVER_CERT_LIFETIME_MS = 365 * 24 * 3600_000;
const DATASTORE_CERT_LIFETIME_MS = 365 * 24 * 3600_000;

export interface SecurityOptions {
  dataDir: string;
  insecure: boolean;
  serverNames: string[];
  enrollmentTokenTtlMs: number;
  agentCertificateLifetimeMs: number;
}

/** Serial numbers as Node's TLS reports them (upper-case, no leading zeros) and as we store them. */
export const normalizeSerial = (s: string): string => s.toLowerCase().replace(/^0+/, '');

export class Security {
  readonly apiTokens: ApiTokens;
  readonly enrollment: EnrollmentTokens;

  private constructor(
    private readonly store: Store,
    readonly ca: CertificateAuthority,
    private readonly opts: SecurityOptions,
    private readonly log: Logger,
  ) {
    this.apiTokens = new ApiTokens(store);
    this.enrollment = new EnrollmentTokens(store, opts.enrollmentTokenTtlMs);
  }

  static async create(store: Store, opts: SecurityOptions, log: Logger): Promise<Security> {
    const ca = await CertificateAuthority.loadOrCreate(join(opts.dataDir, 'pki'));
    if (opts.insecure)
      log.warn('INSECURE DEVELOPMENT MODE: plain-text gRPC, no agent identity checks, no API authentication. Never use this outside a development machine.');
    return new Security(store, ca, opts, log);
  }

  get caFile(): string {
    return join(this.opts.dataDir, 'pki', 'ca.pem');
  }

  get insecure(): boolean {
    return this.opts.insecure;
  }

  /** Credentials for the API port (server TLS) and the agent port (mutual TLS required). */
  async serverCredentials(hosts: string[]): Promise<{ api: ServerCredentials; agent: ServerCredentials }> {
    if (this.opts.insecure) return { api: ServerCredentials.createInsecure(), agent: ServerCredentials.createInsecure() };
    const keys = await generateKeyPair();
    const names = [...new Set(['localhost', '127.0.0.1', '::1', ...hosts, ...this.opts.serverNames])];
    const cert = await this.ca.issueServerCertificate(keys.publicKey, names, SERVER_CERT_LIFETIME_MS, 'steward-controller');
    const pair = { private_key: Buffer.from(await privateKeyToPem(keys.privateKey)), cert_chain: Buffer.from(cert.pem) };
    const caBuf = Buffer.from(this.ca.certPem);
    return { api: ServerCredentials.createSsl(null, [pair]), agent: ServerCredentials.createSsl(caBuf, [pair], true) };
  }

  async enroll(token: string, claimedInstanceId: string, csrPem: string): Promise<CertificateResponse> {
    registerSecret(token);
    const instanceId = await this.enrollment.redeem(token, claimedInstanceId);
    const inst = await this.store.selectFrom('instances').select('id').where('id', '=', instanceId).where('deleted_at', 'is', null).executeTakeFirst();
    if (!inst) throw new StewardError('UNAUTHENTICATED', 'enrollment token is unknown, used or expired');
    const cert = await this.ca.issueAgentCertificate(csrPem, instanceId, this.opts.agentCertificateLifetimeMs);
    await this.record(instanceId, 'agent', cert);
    this.log.info({ instanceId, serial: cert.serial }, 'agent enrolled');
    return this.response(cert);
  }

  async renew(instanceId: string, csrPem: string): Promise<CertificateResponse> {
    const cert = await this.ca.issueAgentCertificate(csrPem, instanceId, this.opts.agentCertificateLifetimeMs);
    await this.record(instanceId, 'agent', cert);
    this.log.info({ instanceId, serial: cert.serial }, 'agent certificate renewed');
    return this.response(cert);
  }

  async issueDatastoreCertificate(instanceId: string, csrPem: string): Promise<CertificateResponse> {
    const inst = await this.store.selectFrom('instances').select('host').where('id', '=', instanceId).executeTakeFirstOrThrow();
    const hosts = [...new Set([inst.host, '127.0.0.1', 'localhost'].filter(Boolean))];
    const cert = await this.ca.issueServerCertificateForCsr(csrPem, hosts, DATASTORE_CERT_LIFETIME_MS);
    await this.record(instanceId, 'datastore', cert);
    return this.response(cert);
  }

  /**
   * The instance a verified client certificate speaks for: its URI SAN, if the
   * serial was issued to that instance and not revoked, and the instance exists.
   */
  async identify(peer: PeerCertificate | undefined): Promise<string> {
    const instanceId = instanceIdFromSan(peer?.subjectaltname);
    if (!peer || !instanceId) throw new StewardError('UNAUTHENTICATED', 'no agent certificate on this connection');
    const row = await this.store
      .selectFrom('certificates')
      .innerJoin('instances', 'instances.id', 'certificates.instance_id')
      .select(['certificates.revoked_at', 'certificates.instance_id', 'instances.deleted_at'])
      .where('certificates.serial', '=', normalizeSerial(peer.serialNumber))
      .executeTakeFirst();
    if (!row || row.instance_id !== instanceId) throw new StewardError('PERMISSION_DENIED', 'certificate was not issued by this controller for this instance');
    if (row.revoked_at) throw new StewardError('PERMISSION_DENIED', 'certificate has been revoked');
    if (row.deleted_at) throw new StewardError('PERMISSION_DENIED', 'instance has been deleted');
    return instanceId;
  }

  async revokeInstance(instanceId: string): Promise<number> {
    const res = await this.store
      .updateTable('certificates')
      .set({ revoked_at: nowIso() })
      .where('instance_id', '=', instanceId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    this.log.info({ instanceId, revoked: Number(res.numUpdatedRows) }, 'certificates revoked');
    return Number(res.numUpdatedRows);
  }

  private async record(instanceId: string, kind: string, cert: IssuedCertificate): Promise<void> {
    await this.store
      .insertInto('certificates')
      .values({
        serial: normalizeSerial(cert.serial),
        instance_id: instanceId,
        kind,
        not_after: cert.notAfter.toISOString(),
        revoked_at: null,
        created_at: nowIso(),
      })
      .execute();
  }

  private response(cert: IssuedCertificate): CertificateResponse {
    return { certificatePem: cert.pem, caPem: this.ca.certPem, notAfter: cert.notAfter.toISOString() };
  }
}
