// X.509 plumbing shared by the agent (its key and CSRs), the controller's CA and
// managers that give their datastore a TLS certificate. All ASN.1 work is done
// by @peculiar/x509 over WebCrypto; keys are ECDSA P-256.
import 'reflect-metadata'; // @peculiar/x509's dependency injection needs it loaded first
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
export const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;
export const INSTANCE_URI_PREFIX = 'urn:steward:instance:';

export { x509 };

export async function generateKeyPair(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
}

export async function privateKeyToPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

export async function privateKeyFromPem(pem: string): Promise<CryptoKey> {
  const der = x509.PemConverter.decode(pem)[0];
  return webcrypto.subtle.importKey('pkcs8', der, KEY_ALGORITHM, true, ['sign']);
}

/** A CSR for `keys`; the subject is informational: the CA decides the identity. */
export async function createCsr(keys: CryptoKeyPair, commonName: string): Promise<string> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${commonName.replace(/[,=+<>#;"\\]/g, '_')}`,
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
  });
  return csr.toString('pem');
}

export function instanceUri(instanceId: string): string {
  return `${INSTANCE_URI_PREFIX}${instanceId}`;
}

/** The instance id in a peer certificate's subjectaltname string ("URI:urn:steward:instance:<id>, ..."). */
export function instanceIdFromSan(subjectaltname: string | undefined): string | undefined {
  const match = (subjectaltname ?? '').split(/,\s*/).find((n) => n.startsWith(`URI:${INSTANCE_URI_PREFIX}`));
  return match?.slice(`URI:${INSTANCE_URI_PREFIX}`.length);
}

export function certificateNotAfter(pem: string): Date {
  return new x509.X509Certificate(pem).notAfter;
}
