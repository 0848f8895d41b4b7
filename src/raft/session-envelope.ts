// Entry payloads of a state machine with client sessions (Raft dissertation §6.3): every entry
// says whether it opens a session, carries a session's command, keeps a session alive, or is a
// plain command. Little-endian; `proposedAtMs` is the proposing leader's clock, the only time the
// state machines ever look at (so every node expires sessions at the same entry).
//
//   0xc0 payload                                      a plain command (no session)
//   0xc1 proposedAtMs u64                             open a session: its client id is the entry's index
//   0xc2 clientId u64, sequence u64, lowestPending u64, proposedAtMs u64, payload
//                                                     a command; results below lowestPending may be forgotten
//   0xc3 clientId u64, proposedAtMs u64               keep a session alive
//
// An entry starting with any other byte is a plain command as a whole: logs written before
// sessions existed (the key-value commands start with 1..4) read the same.
import { RaftLogError } from '../storage/errors.js'

export const kindPlain = 0xc0
export const kindOpen = 0xc1
export const kindCommand = 0xc2
export const kindKeepAlive = 0xc3
/** Byte offset of proposedAtMs in an open, command and keep-alive envelope. */
const stampOffset: Record<number, number> = { [kindOpen]: 1, [kindCommand]: 25, [kindKeepAlive]: 9 }

export type SessionEnvelope =
  | { kind: 'plain'; payload: Uint8Array }
  | { kind: 'open'; proposedAtMs: number }
  | { kind: 'command'; clientId: number; sequence: number; lowestPending: number; proposedAtMs: number; payload: Uint8Array }
  | { kind: 'keep-alive'; clientId: number; proposedAtMs: number }

export function encodePlain(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + payload.length)
  out[0] = kindPlain
  out.set(payload, 1)
  return out
}

export function encodeOpen(proposedAtMs: number): Uint8Array {
  const out = Buffer.alloc(9)
  out[0] = kindOpen
  writeU64(out, 1, proposedAtMs)
  return out
}

export function encodeCommand(clientId: number, sequence: number, lowestPending: number, proposedAtMs: number, payload: Uint8Array): Uint8Array {
  const out = Buffer.alloc(33 + payload.length)
  out[0] = kindCommand
  writeU64(out, 1, clientId)
  writeU64(out, 9, sequence)
  writeU64(out, 17, lowestPending)
  writeU64(out, 25, proposedAtMs)
  out.set(payload, 33)
  return out
}

export function encodeKeepAlive(clientId: number, proposedAtMs: number): Uint8Array {
  const out = Buffer.alloc(17)
  out[0] = kindKeepAlive
  writeU64(out, 1, clientId)
  writeU64(out, 9, proposedAtMs)
  return out
}

/**
 * Sets proposedAtMs of `envelope` to `nowMs`, in place (the caller owns the bytes: no copy on
 * the proposal path): the leader stamps what clients send, so that session expiry follows the
 * leader's clock, not each client's. Returns the same bytes.
 */
export function stampEnvelope(envelope: Uint8Array, nowMs: number): Uint8Array {
  const offset = stampOffset[envelope[0] as number]
  if (offset === undefined || envelope.length < offset + 8) return envelope
  writeU64(Buffer.from(envelope.buffer, envelope.byteOffset, envelope.length), offset, nowMs)
  return envelope
}

export function decodeEnvelope(data: Uint8Array): SessionEnvelope {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.length)
  const need = (length: number): void => {
    if (bytes.length < length) throw new RaftLogError('ERR_BAD_COMMAND', `Session envelope of kind 0x${(bytes[0] as number).toString(16)} is ${bytes.length} bytes, shorter than ${length}`)
  }
  switch (bytes[0]) {
    case kindPlain:
      return { kind: 'plain', payload: bytes.subarray(1) }
    case kindOpen:
      need(9)
      return { kind: 'open', proposedAtMs: readU64(bytes, 1) }
    case kindCommand:
      need(33)
      return { kind: 'command', clientId: readU64(bytes, 1), sequence: readU64(bytes, 9), lowestPending: readU64(bytes, 17), proposedAtMs: readU64(bytes, 25), payload: bytes.subarray(33) }
    case kindKeepAlive:
      need(17)
      return { kind: 'keep-alive', clientId: readU64(bytes, 1), proposedAtMs: readU64(bytes, 9) }
    default:
      return { kind: 'plain', payload: bytes }
  }
}

function writeU64(bytes: Buffer, offset: number, value: number): void {
  bytes.writeBigUInt64LE(BigInt(value), offset)
}

function readU64(bytes: Buffer, offset: number): number {
  const value = bytes.readBigUInt64LE(offset)
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new RaftLogError('ERR_BAD_COMMAND', `Session envelope field at byte ${offset} is ${value}, above 2^53`)
  return Number(value)
}
