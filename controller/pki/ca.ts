// The controller's small certificate authority. Its key and certificate are made
// on first start (0600) in <dataDir>/pki and reused after; it issues the
// controller's own server certificates, agents' client certificates (identity =
// a URI SAN naming the instance) and datastore server certificates.
// Rotation: see ARCHITECTURE.md ("Rotating the CA").
import { existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { generateKeyPair, instanceUri, privateKeyFromPem, privateKeyToPem, SIGNING_ALGORITHM, x509 } from '../../managers/sdk/pki.js';
import { invalidArgument } from '../../managers/sdk/errors.js';

const CA_LIFETIME_MS = 10 * 365 * 24 * 3600_000;

export interface IssuedCertificate {
  pem: string;
  serial: string;
  notAfter: Date;
}

export class CertificateAuthority {
  private constructor(
    readonly certPem: string,
    private readonly cert: x509.X509Certificate,
    private readonly key: CryptoKey,
  ) {}

  static async loadOrCreate(dir: string): Promise<CertificateAuthority> {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    const certFile = join(dir, 'ca.pem');
    const keyFile = join(dir, 'ca-key.pem');
    if (existsSync(certFile) && existsSync(keyFile)) {
      const certPem = readFileSync(certFile, 'utf8');
      return new CertificateAuthority(certPem, new x509.X509Certificate(certPem), await privateKeyFromPem(readFileSync(keyFile, 'utf8')));
    }
    const keys = await generateKeyPair();
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serial(),
      name: 'CN=Steward CA',
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + CA_LIFETIME_MS),
      keys,
      signingAlgorithm: SIGNING_ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    writeFileSync(keyFile, await privateKeyToPem(keys.privateKey), { mode: 0o600 });
    writeFileSync(certFile, cert.toString('pem'), { mode: 0o644 });
    return new CertificateAuthority(cert.toString('pem'), cert, keys.privateKey);
  }

  /** A client certificate for an agent: the CSR's key, the CA's chosen identity. */
  async issueAgentCertificate(csrPem: string, instanceId: string, lifetimeMs: number): Promise<IssuedCertificate> {
    const csr = await parseCsr(csrPem);
    return this.issue(
      csr.publicKey,
      `CN=steward-agent ${instanceId}`,
      lifetimeMs,
      [x509.ExtendedKeyUsage.clientAuth],
      [{ type: 'url', value: instanceUri(instanceId) }],
    );
  }

  /** A server certificate for hosts/IPs (the controller itself, or a datastore). */
  async issueServerCertificate(publicKey: x509.PublicKey | CryptoKey, hosts: string[], lifetimeMs: number, cn = hosts[0]): Promise<IssuedCertificate> {
    const names = hosts.map((h) => (isIP(h) ? { type: 'ip' as const, value: h } : { type: 'dns' as const, value: h }));
    return this.issue(publicKey, `CN=${cn}`, lifetimeMs, [x509.ExtendedKeyUsage.serverAuth], names);
  }

  async issueServerCertificateForCsr(csrPem: string, hosts: string[], lifetimeMs: number): Promise<IssuedCertificate> {
    const csr = await parseCsr(csrPem);
    return this.issueServerCertificate(csr.publicKey, hosts, lifetimeMs);
  }

  private async issue(
    publicKey: x509.PublicKey | CryptoKey,
    subject: string,
    lifetimeMs: number,
    usages: x509.ExtendedKeyUsage[],
    names: x509.JsonGeneralName[],
  ): Promise<IssuedCertificate> {
    const serialNumber = serial();
    const notAfter = new Date(Date.now() + lifetimeMs);
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber,
      subject,
      issuer: this.cert.subject,
      // Back-dated a little for clock skew between controller and guest.
      notBefore: new Date(Date.now() - Math.min(60_000, lifetimeMs / 10)),
      notAfter,
      publicKey,
      signingKey: this.key,
      signingAlgorithm: SIGNING_ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension(usages, false),
        new x509.SubjectAlternativeNameExtension(names, false),
        await x509.AuthorityKeyIdentifierExtension.create(this.cert, false),
      ],
    });
    return { pem: cert.toString('pem'), serial: cert.serialNumber.toLowerCase(), notAfter };
  }
}

async function parseCsr(pem: string): Promise<x509.Pkcs10CertificateRequest> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(pem);
  } catch {
    throw invalidArgument('csr', 'is not a PEM certificate signing request');
  }
  if (!(await csr.verify())) throw invalidArgument('csr', 'signature does not verify');
  return csr;
}

function serial(): string {
  const b = randomBytes(16);
  b[0] &= 0x7f; // positive INTEGER
  return b.toString('hex');
}
