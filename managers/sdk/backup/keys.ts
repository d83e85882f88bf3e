// Per-backup data keys. Each backup is encrypted under its own random data key;
// the key is stored next to the data only in wrapped form, sealed (XChaCha20-
// Poly1305, libsodium's AEAD) under a wrapping key the controller holds and
// hands over per operation. The backup id is the associated data, so a wrapped
// key copied into another backup's metadata does not open.
import sodium from 'sodium-native';
import { StewardError, invalidArgument } from '../errors.js';

export const DATA_KEY_BYTES = sodium.crypto_secretstream_xchacha20poly1305_KEYBYTES;
export const WRAPPING_KEY_BYTES = sodium.crypto_aead_xchacha20poly1305_ietf_KEYBYTES;
const NONCE = sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
const TAG = sodium.crypto_aead_xchacha20poly1305_ietf_ABYTES;

const context = (backupId: string) => Buffer.from(`steward-backup-key:${backupId}`);

export function newDataKey(): Buffer {
  const key = Buffer.alloc(DATA_KEY_BYTES);
  sodium.crypto_secretstream_xchacha20poly1305_keygen(key);
  return key;
}

function checkWrappingKey(key: Buffer): void {
  if (key.length !== WRAPPING_KEY_BYTES) throw invalidArgument('key.wrapping_key', `must be ${WRAPPING_KEY_BYTES} bytes`);
}

/** nonce || ciphertext+tag */
export function wrapDataKey(dataKey: Buffer, wrappingKey: Buffer, backupId: string): Buffer {
  checkWrappingKey(wrappingKey);
  const out = Buffer.alloc(NONCE + dataKey.length + TAG);
  const nonce = out.subarray(0, NONCE);
  sodium.randombytes_buf(nonce);
  sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(out.subarray(NONCE), dataKey, context(backupId), null, nonce, wrappingKey);
  return out;
}

export function unwrapDataKey(wrapped: Buffer, wrappingKey: Buffer, backupId: string): Buffer {
  checkWrappingKey(wrappingKey);
  if (wrapped.length !== NONCE + DATA_KEY_BYTES + TAG) {
    throw new StewardError('FAILED_PRECONDITION', `backup ${backupId}: the wrapped data key has the wrong length`);
  }
  const key = Buffer.alloc(DATA_KEY_BYTES);
  try {
    sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(key, null, wrapped.subarray(NONCE), context(backupId), wrapped.subarray(0, NONCE), wrappingKey);
  } catch {
    throw new StewardError('FAILED_PRECONDITION', `backup ${backupId}: its data key does not open with the key given (wrong key or altered metadata)`);
  }
  return key;
}

/** Overwrites key material once it is no longer needed (best effort: JS may have copied it). */
export const forget = (key: Buffer | undefined): void => {
  if (key) sodium.sodium_memzero(key);
};
