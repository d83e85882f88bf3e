// The agent's identity: a key it generates itself (never leaves the guest) and
// a certificate from the controller's CA naming its instance. Enrolls once with
// the one-time token, then renews over mutual TLS before the certificate expires.
import { existsSync, readFileSync, renameSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { credentials, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import { AgentGatewayClient, EnrollmentClient, type CertificateResponse } from '../proto/gen/steward/v1/agent.js';
import { X509Certificate } from 'node:crypto';
import { registerSecret } from '../managers/sdk/redact.js';
import type { Logger } from '../managers/sdk/logger.js';
import type { AgentConfig } from './config.js';

/** Key and certificate live in one file so that replacing them is one atomic rename. */
const IDENTITY_FILE = 'agent-identity.pem';

/** Making keys and requests needs the PKI library; reading a certificate does not (Node's X509Certificate): it loads only then. */
const pki = () => import('../managers/sdk/pki.js');

export class AgentIdentity {
  private readonly file: string;
  private renewTimer?: NodeJS.Timeout;

  constructor(
    private readonly config: AgentConfig,
    secretsDir: string,
    private readonly log: Logger,
  ) {
    this.file = join(secretsDir, IDENTITY_FILE);
  }

  private read(): { keyPem: string; certPem: string; cert: { notBefore: Date; notAfter: Date } } | undefined {
    if (!existsSync(this.file)) return undefined;
    const text = readFileSync(this.file, 'utf8');
    const keyPem = text.match(/-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----\n?/)?.[0];
    const certPem = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/)?.[0];
    if (!keyPem || !certPem) return undefined;
    registerSecret(keyPem);
    const cert = new X509Certificate(certPem);
    return { keyPem, certPem, cert: { notBefore: new Date(cert.validFrom), notAfter: new Date(cert.validTo) } };
  }

  private get caPem(): Buffer {
    return readFileSync(this.config.controller.caFile!);
  }

  /** Credentials for the agent gateway, enrolling first when there is no valid certificate. */
  async credentials(): Promise<ChannelCredentials> {
    if (this.config.insecure) return credentials.createInsecure();
    if (!this.hasValidCertificate()) await this.enroll();
    return this.current();
  }

  notAfter(): Date | undefined {
    return this.read()?.cert.notAfter;
  }

  /** Renews at two thirds of the certificate's life; `onRenewed` gets the new credentials. */
  scheduleRenewal(onRenewed: (creds: ChannelCredentials) => void): void {
    if (this.config.insecure) return;
    const cert = this.read()?.cert;
    if (!cert) return;
    const { notBefore, notAfter } = cert;
    const at = notBefore.getTime() + ((notAfter.getTime() - notBefore.getTime()) * 2) / 3;
    clearTimeout(this.renewTimer);
    this.renewTimer = setTimeout(
      () => {
        this.renew().then(
          (creds) => {
            onRenewed(creds);
            this.scheduleRenewal(onRenewed);
          },
          (err) => {
            this.log.error({ err: (err as Error).message }, 'certificate renewal failed; retrying in 30 s');
            this.renewTimer = setTimeout(() => this.scheduleRenewal(onRenewed), 30_000);
          },
        );
      },
      Math.max(1_000, at - Date.now()),
    );
    this.renewTimer.unref();
  }

  /** Asks for a datastore server certificate (new key) and writes it with its key and the CA. */
  async issueDatastoreCertificate(dir: string): Promise<{ certFile: string; keyFile: string; caFile: string }> {
    const { createCsr, generateKeyPair, privateKeyToPem } = await pki();
    const keys = await generateKeyPair();
    const csrPem = await createCsr(keys, `datastore ${this.config.instanceId}`);
    const client = new AgentGatewayClient(this.config.controller.address, this.current());
    try {
      const res = await unaryCall<CertificateResponse>((cb) => client.issueDatastoreCertificate({ csrPem }, cb));
      const files = { certFile: join(dir, 'server-cert.pem'), keyFile: join(dir, 'server-key.pem'), caFile: join(dir, 'ca.pem') };
      writeFileSync(files.keyFile, await privateKeyToPem(keys.privateKey), { mode: 0o600 });
      writeFileSync(files.certFile, res.certificatePem, { mode: 0o644 });
      writeFileSync(files.caFile, res.caPem, { mode: 0o644 });
      return files;
    } finally {
      client.close();
    }
  }

  stop(): void {
    clearTimeout(this.renewTimer);
  }

  private hasValidCertificate(): boolean {
    const notAfter = this.notAfter();
    return !!notAfter && notAfter.getTime() > Date.now() + 5_000;
  }

  private current(): ChannelCredentials {
    const id = this.read();
    if (!id) throw new Error(`no agent identity in ${this.file}`);
    return credentials.createSsl(this.caPem, Buffer.from(id.keyPem), Buffer.from(id.certPem));
  }

  private token(): string {
    const { token, tokenFile } = this.config.enrollment;
    const value = token ?? (tokenFile && existsSync(tokenFile) ? readFileSync(tokenFile, 'utf8').trim() : undefined);
    if (!value) throw new Error('this agent has no valid certificate and no enrollment token (enrollment.token or enrollment.tokenFile)');
    registerSecret(value);
    return value;
  }

  private async enroll(): Promise<void> {
    const token = this.token();
    const { createCsr, generateKeyPair } = await pki();
    const keys = await generateKeyPair();
    const csrPem = await createCsr(keys, `agent ${this.config.instanceId}`);
    const address = this.config.controller.enrollAddress ?? this.config.controller.address;
    // Server-authenticated TLS pinned to the controller's CA: the token never goes to anyone else.
    const client = new EnrollmentClient(address, credentials.createSsl(this.caPem));
    try {
      const res = await unaryCall<CertificateResponse>((cb) => client.enroll({ token, csrPem, instanceId: this.config.instanceId }, cb));
      await this.store(keys, res);
      this.log.info({ notAfter: res.notAfter }, 'enrolled: certificate received');
    } finally {
      client.close();
    }
    if (this.config.enrollment.tokenFile) rmSync(this.config.enrollment.tokenFile, { force: true });
  }

  private async renew(): Promise<ChannelCredentials> {
    const { createCsr, generateKeyPair } = await pki();
    const keys = await generateKeyPair();
    const csrPem = await createCsr(keys, `agent ${this.config.instanceId}`);
    const client = new AgentGatewayClient(this.config.controller.address, this.current());
    try {
      const res = await unaryCall<CertificateResponse>((cb) => client.renew({ csrPem }, cb));
      await this.store(keys, res);
      this.log.info({ notAfter: res.notAfter }, 'certificate renewed');
    } finally {
      client.close();
    }
    return this.current();
  }

  private async store(keys: CryptoKeyPair, res: CertificateResponse): Promise<void> {
    const keyPem = await (await pki()).privateKeyToPem(keys.privateKey);
    registerSecret(keyPem);
    const tmp = `${this.file}.new`;
    writeFileSync(tmp, `${keyPem.trim()}\n${res.certificatePem.trim()}\n`, { mode: 0o600 });
    renameSync(tmp, this.file);
  }
}

function unaryCall<T>(fn: (cb: (err: ServiceError | null, res: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, res) => (err ? reject(new Error(err.details || err.message)) : resolve(res))));
}
