// Sealed boxes: anyone holding a recipient's public key can seal bytes that only the holder of the
// private key can open. Built from audited primitives only (@noble/curves X25519, @noble/hashes
// HKDF-SHA256, @noble/ciphers XChaCha20-Poly1305); the construction is the usual ECIES one (as in
// libsodium's crypto_box_seal and HPKE base mode): a fresh ephemeral key per box, so the sender
// keeps nothing that could open it later.
//
// Wire form: version (1 byte) ‖ ephemeral public key (32) ‖ nonce (24) ‖ ciphertext + tag (16).
// The `context` (a purpose string naming what the box is for: workload URI, recipient) is bound
// as associated data and into the key derivation, so a box copied into another record, for
// another workload or another recipient, fails to open instead of leaking into the wrong guest.
import { x25519 } from '@noble/curves/ed25519.js'
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js'
import { randomBytes } from '@noble/ciphers/utils.js'
import { hkdf } from '@noble/hashes/hkdf.js'
import { sha256 } from '@noble/hashes/sha2.js'

export const SEALING_ALGORITHM = 'x25519-hkdf-sha256-xchacha20poly1305'
const VERSION = 1
const KEY_BYTES = 32
const NONCE_BYTES = 24
const TAG_BYTES = 16
/** Bytes a box adds to its plaintext. */
export const BOX_OVERHEAD = 1 + KEY_BYTES + NONCE_BYTES + TAG_BYTES

export interface SealingKeyPair {
  publicKey: Uint8Array
  privateKey: Uint8Array
}

export class SealError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'SealError'
  }
}

/** The box could not be opened: not ours, tampered with, or sealed for another purpose. */
export class OpenError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'OpenError'
  }
}

export function generateKeyPair(): SealingKeyPair {
  const { secretKey, publicKey } = x25519.keygen()
  return { publicKey, privateKey: secretKey }
}

export function publicKeyOf(privateKey: Uint8Array): Uint8Array {
  return x25519.getPublicKey(privateKey)
}

export function isPublicKey(key: unknown): key is Uint8Array {
  return key instanceof Uint8Array && key.length === KEY_BYTES
}

const encoder = new TextEncoder()

function deriveKey(
  shared: Uint8Array,
  ephemeral: Uint8Array,
  recipient: Uint8Array,
  context: string,
): Uint8Array {
  const salt = new Uint8Array(KEY_BYTES * 2)
  salt.set(ephemeral, 0)
  salt.set(recipient, KEY_BYTES)
  return hkdf(sha256, shared, salt, encoder.encode(`${SEALING_ALGORITHM}|${context}`), KEY_BYTES)
}

/** Seals `plain` to `recipient` for `context`. */
export function seal(plain: Uint8Array, recipient: Uint8Array, context: string): Uint8Array {
  if (!isPublicKey(recipient)) throw new SealError('not an X25519 public key')
  const eph = x25519.keygen()
  let shared: Uint8Array
  try {
    shared = x25519.getSharedSecret(eph.secretKey, recipient)
  } catch (err) {
    // A low-order point: no shared secret exists. Someone published a broken or hostile key.
    throw new SealError('the recipient key is not usable', { cause: err })
  }
  const key = deriveKey(shared, eph.publicKey, recipient, context)
  const nonce = randomBytes(NONCE_BYTES)
  const body = xchacha20poly1305(key, nonce, encoder.encode(context)).encrypt(plain)
  const out = new Uint8Array(1 + KEY_BYTES + NONCE_BYTES + body.length)
  out[0] = VERSION
  out.set(eph.publicKey, 1)
  out.set(nonce, 1 + KEY_BYTES)
  out.set(body, 1 + KEY_BYTES + NONCE_BYTES)
  return out
}

/** Opens a box sealed to `keys.publicKey` for `context`; OpenError when it cannot. */
export function open(box: Uint8Array, keys: SealingKeyPair, context: string): Uint8Array {
  if (box.length < BOX_OVERHEAD) throw new OpenError('too short to be a sealed box')
  if (box[0] !== VERSION) throw new OpenError(`unknown sealed box version ${box[0]}`)
  const eph = box.subarray(1, 1 + KEY_BYTES)
  const nonce = box.subarray(1 + KEY_BYTES, 1 + KEY_BYTES + NONCE_BYTES)
  const body = box.subarray(1 + KEY_BYTES + NONCE_BYTES)
  try {
    const shared = x25519.getSharedSecret(keys.privateKey, eph)
    const key = deriveKey(shared, eph, keys.publicKey, context)
    return xchacha20poly1305(key, nonce, encoder.encode(context)).decrypt(body)
  } catch (err) {
    throw new OpenError('cannot open: sealed to another key, for another purpose, or altered', {
      cause: err,
    })
  }
}

/** Two public keys are the same key. */
export function sameKey(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (!a || !b || a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!
  return diff === 0
}
