// The built-in example state machine: a key-value map with put, get, delete and compare-and-set.
// Commands and results are compact bytes. Reads do not go through the log: a node serves them
// from its state after a ReadIndex (see node-server.ts); a get command is still understood.
import type { LogEntry } from '../storage/log-entry.js'
import type { StateMachine } from '../raft/state-machine.js'
import { decodeKvSnapshot, encodeKvSnapshot } from './kv-snapshot.js'

export type KvCommand =
  /** With `previous`, the answer carries the value the key held before. */
  | { op: 'put'; key: string; value: string; previous?: boolean }
  | { op: 'get'; key: string }
  | { op: 'delete'; key: string }
  /** Sets `value` if the key currently holds `expected` (null: if the key is absent). */
  | { op: 'cas'; key: string; expected: string | null; value: string }
  /** Many puts in one entry, applied together and in order (what `raftlog kv load` sends). */
  | { op: 'batch'; puts: { key: string; value: string }[] }

export interface KvResult {
  /** delete: whether the key was there; cas: whether it was set; true otherwise. */
  ok: boolean
  /**
   * get: the value (null if absent); cas: the value it found; put with `previous`: the value
   * before. Left out when the command does not answer one (a plain put, a delete).
   */
  value?: string | null
}

const opCodes = { put: 1, get: 2, delete: 3, cas: 4, batch: 5 } as const
/** Set on a put's op code: answer with the previous value. */
const previousFlag = 0x80
const absent = 0xffffffff
/** op u8 + key length u32. */
const headerBytes = 5

/**
 * [op u8][key length u32][key] then: put [value]; cas [expected length u32 or 0xffffffff][expected][value].
 * A batch: [5][count u32] then per put [key length u32][key][value length u32][value].
 */
export function encodeKvCommand(command: KvCommand): Uint8Array {
  if (command.op === 'batch') return encodeBatch(command.puts)
  const key = Buffer.from(command.key)
  const op = opCodes[command.op] | (command.op === 'put' && command.previous === true ? previousFlag : 0)
  const parts: Buffer[] = [Buffer.from([op]), u32(key.length), key]
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
  if (op === opCodes.batch) return decodeBatch(buffer, bad)
  const keyLength = buffer.readUInt32LE(1)
  if (keyLength > buffer.length - headerBytes) throw bad(`key length ${keyLength} runs past the end`)
  const key = buffer.subarray(headerBytes, headerBytes + keyLength).toString()
  const rest = buffer.subarray(headerBytes + keyLength)
  switch (op) {
    case opCodes.put:
      return { op: 'put', key, value: rest.toString() }
    case opCodes.put | previousFlag:
      return { op: 'put', key, value: rest.toString(), previous: true }
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

/** [bit 0: ok; bits 1-2: 0 no value, 1 null, 2 a value follows][value bytes]: a plain put answers one byte. */
export function encodeKvResult(result: KvResult): Uint8Array {
  const ok = result.ok ? 1 : 0
  if (result.value === undefined) return Uint8Array.of(ok)
  if (result.value === null) return Uint8Array.of(ok | 2)
  const value = Buffer.from(result.value)
  const out = Buffer.allocUnsafe(1 + value.length)
  out[0] = ok | 4
  value.copy(out, 1)
  return out
}

export function decodeKvResult(bytes: Uint8Array): KvResult {
  const flags = bytes[0]
  if (flags === undefined || flags > 5) throw new KvCommandError(`Not a key-value result (${bytes.length} bytes)`)
  const ok = (flags & 1) === 1
  if ((flags & 6) === 0) return { ok }
  if ((flags & 6) === 2) return { ok, value: null }
  return { ok, value: Buffer.from(bytes.buffer, bytes.byteOffset + 1, bytes.length - 1).toString() }
}

function encodeBatch(puts: { key: string; value: string }[]): Uint8Array {
  const parts: Buffer[] = [Buffer.from([opCodes.batch]), u32(puts.length)]
  for (const { key, value } of puts) {
    const keyBytes = Buffer.from(key)
    const valueBytes = Buffer.from(value)
    parts.push(u32(keyBytes.length), keyBytes, u32(valueBytes.length), valueBytes)
  }
  return Buffer.concat(parts)
}

function decodeBatch(buffer: Buffer, bad: (problem: string) => KvCommandError): KvCommand {
  const count = buffer.readUInt32LE(1)
  let offset = headerBytes
  const take = (what: string): string => {
    if (offset + 4 > buffer.length) throw bad(`a batch cut short before a ${what} length`)
    const length = buffer.readUInt32LE(offset)
    if (length > buffer.length - offset - 4) throw bad(`${what} length ${length} runs past the end`)
    const text = buffer.subarray(offset + 4, offset + 4 + length).toString()
    offset += 4 + length
    return text
  }
  const puts: { key: string; value: string }[] = []
  for (let i = 0; i < count; i++) puts.push({ key: take('key'), value: take('value') })
  if (offset !== buffer.length) throw bad(`${buffer.length - offset} bytes after the last of ${count} puts`)
  return { op: 'batch', puts }
}

function u32(value: number): Buffer {
  const bytes = Buffer.alloc(4)
  bytes.writeUInt32LE(value)
  return bytes
}

export class KvStateMachine implements StateMachine {
  private readonly data = new Map<string, string>()
  /** Puts, deletes and compare-and-sets applied, in the state (and its snapshots): equal on every node at the same index. */
  private writes = 0
  /** Every key in order, for scans; undefined once a key was added or removed since it was built. */
  private sorted: string[] | undefined

  apply(entry: LogEntry): Uint8Array {
    return encodeKvResult(this.execute(decodeKvCommand(entry.data)))
  }

  get size(): number {
    return this.data.size
  }

  /** Writes (put, delete, cas) applied up to the last applied entry, retries answered from a session table not counted. */
  get writesApplied(): number {
    return this.writes
  }

  /** The value of `key` (null: absent), as of the last applied entry: serve it after a ReadIndex. */
  get(key: string): string | null {
    return this.data.get(key) ?? null
  }

  /**
   * Keys starting with `prefix` and sorting after `after` (all when undefined), in key order
   * (JavaScript string order), with their values, as of the last applied entry: serve it after
   * a ReadIndex. At most `limit` pairs and about `maxBytes` of keys and values (always one pair
   * when there is one); `more` says whether pairs were left out.
   */
  scan(prefix: string, after: string | undefined, limit: number, maxBytes: number): { pairs: [string, string][]; more: boolean } {
    const keys = this.sortedKeys()
    let position = lowerBound(keys, prefix)
    if (after !== undefined) position = Math.max(position, upperBound(keys, after))
    const pairs: [string, string][] = []
    let bytes = 0
    for (; position < keys.length; position++) {
      const key = keys[position] as string
      if (!key.startsWith(prefix)) break
      const value = this.data.get(key) as string
      const size = Buffer.byteLength(key) + Buffer.byteLength(value)
      if (pairs.length === limit || (pairs.length > 0 && bytes + size > maxBytes)) break
      pairs.push([key, value])
      bytes += size
    }
    return { pairs, more: position < keys.length && (keys[position] as string).startsWith(prefix) }
  }

  /**
   * Every key, sorted: built on the first scan after a key was added or removed (an overwrite
   * keeps it), so scans page through a large store without sorting it per page.
   */
  private sortedKeys(): string[] {
    this.sorted ??= Array.from(this.data.keys()).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    return this.sorted
  }

  private set(key: string, value: string): void {
    if (!this.data.has(key)) this.sorted = undefined
    this.data.set(key, value)
  }

  private remove(key: string): void {
    if (this.data.delete(key)) this.sorted = undefined
  }

  /** The pairs as of now (a copy of the map's entries; the strings are shared, not copied). */
  snapshot(): AsyncIterable<Uint8Array> {
    return encodeKvSnapshot(Array.from(this.data), this.writes)
  }

  async restore(chunks: AsyncIterable<Uint8Array>): Promise<void> {
    const restored = new Map<string, string>()
    const writes = await decodeKvSnapshot(chunks, (key, value) => restored.set(key, value))
    this.data.clear()
    this.sorted = undefined
    for (const [key, value] of restored) this.data.set(key, value)
    this.writes = writes
  }

  private execute(command: KvCommand): KvResult {
    if (command.op === 'batch') {
      for (const { key, value } of command.puts) this.set(key, value)
      this.writes += command.puts.length
      return { ok: true }
    }
    const before = this.data.get(command.key) ?? null
    if (command.op !== 'get') this.writes++
    switch (command.op) {
      case 'get':
        return { ok: true, value: before }
      case 'put':
        this.set(command.key, command.value)
        return command.previous === true ? { ok: true, value: before } : { ok: true }
      case 'delete':
        this.remove(command.key)
        return { ok: before !== null }
      case 'cas':
        if (before !== command.expected) return { ok: false, value: before }
        this.set(command.key, command.value)
        return { ok: true, value: before }
    }
  }
}

/** The first position in sorted `keys` whose key is not below `key`. */
function lowerBound(keys: string[], key: string): number {
  let low = 0
  let high = keys.length
  while (low < high) {
    const middle = (low + high) >>> 1
    if ((keys[middle] as string) < key) low = middle + 1
    else high = middle
  }
  return low
}

/** The first position in sorted `keys` whose key is above `key`. */
function upperBound(keys: string[], key: string): number {
  let low = 0
  let high = keys.length
  while (low < high) {
    const middle = (low + high) >>> 1
    if ((keys[middle] as string) <= key) low = middle + 1
    else high = middle
  }
  return low
}
