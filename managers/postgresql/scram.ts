// SCRAM-SHA-256 password verifiers, computed here rather than by the server.
// CREATE/ALTER ROLE cannot take the password as a parameter, so it travels in
// the statement text, and the server copies statement text into its log on
// any error and shows it in pg_stat_activity. Sending the verifier instead (the
// server stores one it is given as-is, whatever password_encryption says)
// keeps the password itself out of both; it is what psql's \password does.
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

/** PostgreSQL's default scram_iterations. */
export const SCRAM_ITERATIONS = 4096;

const hmac = (key: Buffer, text: string): Buffer => createHmac('sha256', key).update(text).digest();

/**
 * The verifier PostgreSQL stores in pg_authid.rolpassword (RFC 5802/7677).
 * SASLprep is left out on purpose: validation admits printable ASCII only,
 * which SASLprep leaves unchanged.
 */
export function scramVerifier(password: string, salt: Buffer = randomBytes(16), iterations = SCRAM_ITERATIONS): string {
  const salted = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  const storedKey = createHash('sha256').update(hmac(salted, 'Client Key')).digest();
  const serverKey = hmac(salted, 'Server Key');
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}
