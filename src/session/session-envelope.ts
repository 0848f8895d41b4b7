// Entry payloads of a state machine with client sessions (Raft dissertation §6.3): every entry
// says whether it opens a session, carries a session's command, keeps a session alive, or is a
// plain command. Little-endian; `proposedAtMs` is the proposing leader's clock, the only time the
// state machines ever look at (so every node expires sessions at the same entry).
//
//   0xc0 payload                                      a plain command (no session)
//   0xc4 proposedAtMs u64, secret 16 bytes            open a session: its client id is the entry's index
//   0xc5 clientId u64, sequence u64, lowestPending u64, proposedAtMs u64, secret 16 bytes, payload
//                                                     a command; results below lowestPending may be forgotten
//   0xc6 clientId u64, proposedAtMs u64, secret 16 bytes
//                                                     keep a session alive
//
// The secret is what makes a session its client's own: client ids are log indexes, anyone can
// guess one, but only the client that opened a session knows its 128 random bits, and a command
// or keep-alive with another secret is refused (ERR_SESSION_FORBIDDEN). A node server binds the
// secret to the caller before proposing (bindEnvelope): it replaces it with a hash of the secret
// and the caller's client certificate, so under client TLS a leaked secret is no use from
// another certificate, and the log never holds the secret a client sends.
//
// Logs written before secrets hold 0xc1 (open), 0xc2 (command) and 0xc3 (keep-alive): the same
// fields without a secret. They are still applied as they were; a node server refuses them from
// clients. An entry starting with any other byte is a plain command as a whole: logs written
// before sessions existed (the key-value commands start with 1..5) read the same.
import { createHash } from 'node:crypto'
import { RaftLogError } from '../errors.js'

export const kindPlain = 0xc0
export const kindOpen = 0xc4
export const kindCommand = 0xc5
export const kindKeepAlive = 0xc6
/** The kinds without a secret, from logs written before sessions had one. */
export const legacyKindOpen = 0xc1
export const legacyKindCommand = 0xc2
export const legacyKindKeepAlive = 0xc3

/** Bytes of a session's secret: 128 random bits, as unguessable as a UUIDv4 is unique. */
export const sessionSecretBytes = 16

/** Where proposedAtMs and the secret are in each kind, and where a command's payload starts. */
const layout: Record<number, { stamp: number; secret?: number; end: number }> = {
  [kindOpen]: { stamp: 1, secret: 9, end: 25 },
  [kindCommand]: { stamp: 25, secret: 33, end: 49 },
  [kindKeepAlive]: { stamp: 9, secret: 17, end: 33 },
  [legacyKindOpen]: { stamp: 1, end: 9 },
  [legacyKindCommand]: { stamp: 25, end: 33 },
  [legacyKindKeepAlive]: { stamp: 9, end: 17 },
}

/** `secret` is undefined only in entries written before sessions had one. */
export type SessionEnvelope =
  | { kind: 'plain'; payload: Uint8Array }
  | { kind: 'open'; proposedAtMs: number; secret: Uint8Array | undefined }
  | { kind: 'command'; clientId: number; sequence: number; lowestPending: number; proposedAtMs: number; secret: Uint8Array | undefined; payload: Uint8Array }
  | { kind: 'keep-alive'; clientId: number; proposedAtMs: number; secret: Uint8Array | undefined }

export function encodePlain(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + payload.length)
  out[0] = kindPlain
  out.set(payload, 1)
  return out
}

export function encodeOpen(proposedAtMs: number, secret: Uint8Array): Uint8Array {
  const out = Buffer.alloc(25)
  out[0] = kindOpen
  writeU64(out, 1, proposedAtMs)
  out.set(checkedSecret(secret), 9)
  return out
}

export function encodeCommand(clientId: number, sequence: number, lowestPending: number, proposedAtMs: number, secret: Uint8Array, payload: Uint8Array): Uint8Array {
  const out = Buffer.alloc(49 + payload.length)
  out[0] = kindCommand
  writeU64(out, 1, clientId)
  writeU64(out, 9, sequence)
  writeU64(out, 17, lowestPending)
  writeU64(out, 25, proposedAtMs)
  out.set(checkedSecret(secret), 33)
  out.set(payload, 49)
  return out
}

export function encodeKeepAlive(clientId: number, proposedAtMs: number, secret: Uint8Array): Uint8Array {
  const out = Buffer.alloc(33)
  out[0] = kindKeepAlive
  writeU64(out, 1, clientId)
  writeU64(out, 9, proposedAtMs)
  out.set(checkedSecret(secret), 17)
  return out
}

/**
 * Sets proposedAtMs of `envelope` to `nowMs`, in place (the caller owns the bytes: no copy on
 * the proposal path): the leader stamps what clients send, so that session expiry follows the
 * leader's clock, not each client's. Returns the same bytes.
 */
export function stampEnvelope(envelope: Uint8Array, nowMs: number): Uint8Array {
  const at = layout[envelope[0] as number]
  if (at === undefined || envelope.length < at.end) return envelope
  writeU64(Buffer.from(envelope.buffer, envelope.byteOffset, envelope.length), at.stamp, nowMs)
  return envelope
}

/**
 * Replaces the secret of an open, command or keep-alive with SHA-256(secret, `identity`) cut to
 * the secret's length, in place; returns the same bytes. A node server calls it on what a client
 * proposes, with the identity TLS proved (its client certificate's SHA-256; empty without one),
 * so a session opened from one certificate is refused from every other, whatever the secret.
 */
export function bindEnvelope(envelope: Uint8Array, identity: Uint8Array): Uint8Array {
  const at = layout[envelope[0] as number]
  if (at?.secret === undefined || envelope.length < at.end) return envelope
  const secret = envelope.subarray(at.secret, at.secret + sessionSecretBytes)
  const bound = createHash('sha256').update('raftlog client session\n').update(secret).update(identity).digest()
  envelope.set(bound.subarray(0, sessionSecretBytes), at.secret)
  return envelope
}

export function decodeEnvelope(data: Uint8Array): SessionEnvelope {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.length)
  const kind = bytes[0] as number
  if (kind === kindPlain) return { kind: 'plain', payload: bytes.subarray(1) }
  const at = layout[kind]
  if (at === undefined) return { kind: 'plain', payload: bytes }
  if (bytes.length < at.end) throw new RaftLogError('ERR_BAD_COMMAND', `Session envelope of kind 0x${kind.toString(16)} is ${bytes.length} bytes, shorter than ${at.end}`)
  const proposedAtMs = readU64(bytes, at.stamp)
  const secret = at.secret === undefined ? undefined : bytes.subarray(at.secret, at.secret + sessionSecretBytes)
  switch (kind) {
    case kindOpen:
    case legacyKindOpen:
      return { kind: 'open', proposedAtMs, secret }
    case kindCommand:
    case legacyKindCommand:
      return { kind: 'command', clientId: readU64(bytes, 1), sequence: readU64(bytes, 9), lowestPending: readU64(bytes, 17), proposedAtMs, secret, payload: bytes.subarray(at.end) }
    default:
      return { kind: 'keep-alive', clientId: readU64(bytes, 1), proposedAtMs, secret }
  }
}

function checkedSecret(secret: Uint8Array): Uint8Array {
  if (!(secret instanceof Uint8Array) || secret.length !== sessionSecretBytes) {
    throw new RaftLogError('ERR_BAD_ARGUMENT', `A session secret is ${sessionSecretBytes} bytes, got ${secret instanceof Uint8Array ? `${secret.length} bytes` : typeof secret}`)
  }
  return secret
}

function writeU64(bytes: Buffer, offset: number, value: number): void {
  bytes.writeBigUInt64LE(BigInt(value), offset)
}

function readU64(bytes: Buffer, offset: number): number {
  const value = bytes.readBigUInt64LE(offset)
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new RaftLogError('ERR_BAD_COMMAND', `Session envelope field at byte ${offset} is ${value}, above 2^53`)
  return Number(value)
}
