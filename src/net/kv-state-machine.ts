// The built-in example state machine: a key-value map with put, get, delete and compare-and-set.
// Commands are compact bytes; results are small JSON documents. get goes through the log too,
// so every read is linearizable.
import type { LogEntry } from '../storage/log-entry.js'
import type { StateMachine } from '../raft/state-machine.js'
import { decodeKvSnapshot, encodeKvSnapshot } from './kv-snapshot.js'

export type KvCommand =
  | { op: 'put'; key: string; value: string }
  | { op: 'get'; key: string }
  | { op: 'delete'; key: string }
  /** Sets `value` if the key currently holds `expected` (null: if the key is absent). */
  | { op: 'cas'; key: string; expected: string | null; value: string }

export interface KvResult {
  ok: boolean
  /** get: the value (null if absent); put/delete/cas: the value before. */
  value: string | null
}

const opCodes = { put: 1, get: 2, delete: 3, cas: 4 } as const
const absent = 0xffffffff
/** op u8 + key length u32. */
const headerBytes = 5

/** [op u8][key length u32][key] then: put [value]; cas [expected length u32 or 0xffffffff][expected][value]. */
export function encodeKvCommand(command: KvCommand): Uint8Array {
  const key = Buffer.from(command.key)
  const parts: Buffer[] = [Buffer.from([opCodes[command.op]]), u32(key.length), key]
  if (command.op === 'put') parts.push(Buffer.from(command.value))
  if (command.op === 'cas') {
    const expected = command.expected === null ? undefined : Buffer.from(command.expected)
    parts.push(u32(expected === undefined ? absent : expected.length))
    if (expected !== undefined) parts.push(expected)
    parts.push(Buffer.from(command.value))
  }
  return Buffer.concat(parts)
}

/** Thrown for bytes that are not a key-value command: the client service rejects them before they reach the log. */
export class KvCommandError extends Error {
  readonly code = 'ERR_BAD_COMMAND'
}

export function decodeKvCommand(bytes: Uint8Array): KvCommand {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)
  const bad = (problem: string): KvCommandError => new KvCommandError(`Not a key-value command (${bytes.length} bytes): ${problem}`)
  if (buffer.length < headerBytes) throw bad(`shorter than its ${headerBytes}-byte header`)
  const op = buffer[0]
  const keyLength = buffer.readUInt32LE(1)
  if (keyLength > buffer.length - headerBytes) throw bad(`key length ${keyLength} runs past the end`)
  const key = buffer.subarray(headerBytes, headerBytes + keyLength).toString()
  const rest = buffer.subarray(headerBytes + keyLength)
  switch (op) {
    case opCodes.put:
      return { op: 'put', key, value: rest.toString() }
    case opCodes.get:
    case opCodes.delete:
      if (rest.length !== 0) throw bad(`${rest.length} bytes after the key`)
      return { op: op === opCodes.get ? 'get' : 'delete', key }
    case opCodes.cas: {
      if (rest.length < 4) throw bad('compare-and-set without its expected-value length')
      const expectedLength = rest.readUInt32LE(0)
      if (expectedLength === absent) return { op: 'cas', key, expected: null, value: rest.subarray(4).toString() }
      if (expectedLength > rest.length - 4) throw bad(`expected-value length ${expectedLength} runs past the end`)
      return { op: 'cas', key, expected: rest.subarray(4, 4 + expectedLength).toString(), value: rest.subarray(4 + expectedLength).toString() }
    }
    default:
      throw bad(`unknown operation ${op}`)
  }
}

export function encodeKvResult(result: KvResult): Uint8Array {
  return Buffer.from(JSON.stringify(result))
}

export function decodeKvResult(bytes: Uint8Array): KvResult {
  return JSON.parse(Buffer.from(bytes).toString()) as KvResult
}

function u32(value: number): Buffer {
  const bytes = Buffer.alloc(4)
  bytes.writeUInt32LE(value)
  return bytes
}

export class KvStateMachine implements StateMachine {
  private readonly data = new Map<string, string>()

  apply(entry: LogEntry): Uint8Array {
    return encodeKvResult(this.execute(decodeKvCommand(entry.data)))
  }

  get size(): number {
    return this.data.size
  }

  /** The value of `key` (null: absent), as of the last applied entry: serve it after a ReadIndex. */
  get(key: string): string | null {
    return this.data.get(key) ?? null
  }

  /** The pairs as of now (a copy of the map's entries; the strings are shared, not copied). */
  snapshot(): AsyncIterable<Uint8Array> {
    return encodeKvSnapshot(Array.from(this.data))
  }

  async restore(chunks: AsyncIterable<Uint8Array>): Promise<void> {
    const restored = new Map<string, string>()
    await decodeKvSnapshot(chunks, (key, value) => restored.set(key, value))
    this.data.clear()
    for (const [key, value] of restored) this.data.set(key, value)
  }

  private execute(command: KvCommand): KvResult {
    const before = this.data.get(command.key) ?? null
    switch (command.op) {
      case 'get':
        return { ok: true, value: before }
      case 'put':
        this.data.set(command.key, command.value)
        return { ok: true, value: before }
      case 'delete':
        this.data.delete(command.key)
        return { ok: before !== null, value: before }
      case 'cas':
        if (before !== command.expected) return { ok: false, value: before }
        this.data.set(command.key, command.value)
        return { ok: true, value: before }
    }
  }
}
