// The built-in example state machine: a key-value map with put, get, delete and compare-and-set.
// Commands and results are compact bytes. Reads do not go through the log: a node serves them
// from its state after a ReadIndex (see node-server.ts); a get command is still understood.
import type { LogEntry } from '../storage/log-entry.js'
import type { StateMachine } from '../raft/state-machine.js'
import { decodeKvSnapshot, encodeKvSnapshot } from './kv-snapshot.js'
import { fromBinary, kvBuffer, toBinary, type KvBytes } from './kv-bytes.js'

/**
 * A command. Keys and values are bytes (a string means its UTF-8 bytes); decodeKvCommand gives
 * Buffers (views over the command's bytes).
 */
export type KvCommand<B extends KvBytes = KvBytes> =
  /** With `previous`, the answer carries the value the key held before. */
  | { op: 'put'; key: B; value: B; previous?: boolean }
  | { op: 'get'; key: B }
  | { op: 'delete'; key: B }
  /** Sets `value` if the key currently holds `expected` (null: if the key is absent). */
  | { op: 'cas'; key: B; expected: B | null; value: B }
  /** Many puts in one entry, applied together and in order (what `raftlog kv load` sends). */
  | { op: 'batch'; puts: { key: B; value: B }[] }

/** An answer; decodeKvResult gives the value as a Buffer. */
export interface KvResult<B extends KvBytes = Buffer> {
  /** delete: whether the key was there; cas: whether it was set; true otherwise. */
  ok: boolean
  /**
   * get: the value (null if absent); cas: the value it found; put with `previous`: the value
   * before. Left out when the command does not answer one (a plain put, a delete).
   */
  value?: B | null
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
  const key = kvBuffer(command.key)
  const op = opCodes[command.op] | (command.op === 'put' && command.previous === true ? previousFlag : 0)
  const parts: Buffer[] = [Buffer.from([op]), u32(key.length), key]
  if (command.op === 'put') parts.push(kvBuffer(command.value))
  if (command.op === 'cas') {
    const expected = command.expected === null ? undefined : kvBuffer(command.expected)
    parts.push(u32(expected === undefined ? absent : expected.length))
    if (expected !== undefined) parts.push(expected)
    parts.push(kvBuffer(command.value))
  }
  return Buffer.concat(parts)
}

/** Thrown for bytes that are not a key-value command: the client service rejects them before they reach the log. */
export class KvCommandError extends Error {
  readonly code = 'ERR_BAD_COMMAND'
}

export function decodeKvCommand(bytes: Uint8Array): KvCommand<Buffer> {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)
  const bad = (problem: string): KvCommandError => new KvCommandError(`Not a key-value command (${bytes.length} bytes): ${problem}`)
  if (buffer.length < headerBytes) throw bad(`shorter than its ${headerBytes}-byte header`)
  const op = buffer[0]
  if (op === opCodes.batch) return decodeBatch(buffer, bad)
  const keyLength = buffer.readUInt32LE(1)
  if (keyLength > buffer.length - headerBytes) throw bad(`key length ${keyLength} runs past the end`)
  const key = buffer.subarray(headerBytes, headerBytes + keyLength)
  const rest = buffer.subarray(headerBytes + keyLength)
  switch (op) {
    case opCodes.put:
      return { op: 'put', key, value: rest }
    case opCodes.put | previousFlag:
      return { op: 'put', key, value: rest, previous: true }
    case opCodes.get:
    case opCodes.delete:
      if (rest.length !== 0) throw bad(`${rest.length} bytes after the key`)
      return { op: op === opCodes.get ? 'get' : 'delete', key }
    case opCodes.cas: {
      if (rest.length < 4) throw bad('compare-and-set without its expected-value length')
      const expectedLength = rest.readUInt32LE(0)
      if (expectedLength === absent) return { op: 'cas', key, expected: null, value: rest.subarray(4) }
      if (expectedLength > rest.length - 4) throw bad(`expected-value length ${expectedLength} runs past the end`)
      return { op: 'cas', key, expected: rest.subarray(4, 4 + expectedLength), value: rest.subarray(4 + expectedLength) }
    }
    default:
      throw bad(`unknown operation ${op}`)
  }
}

/** [bit 0: ok; bits 1-2: 0 no value, 1 null, 2 a value follows][value bytes]: a plain put answers one byte. */
export function encodeKvResult(result: KvResult<KvBytes>): Uint8Array {
  const ok = result.ok ? 1 : 0
  if (result.value === undefined) return Uint8Array.of(ok)
  if (result.value === null) return Uint8Array.of(ok | 2)
  const value = kvBuffer(result.value)
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
  return { ok, value: Buffer.from(bytes.buffer, bytes.byteOffset + 1, bytes.length - 1) }
}

function encodeBatch(puts: { key: KvBytes; value: KvBytes }[]): Uint8Array {
  const parts: Buffer[] = [Buffer.from([opCodes.batch]), u32(puts.length)]
  for (const { key, value } of puts) {
    const keyBytes = kvBuffer(key)
    const valueBytes = kvBuffer(value)
    parts.push(u32(keyBytes.length), keyBytes, u32(valueBytes.length), valueBytes)
  }
  return Buffer.concat(parts)
}

function decodeBatch(buffer: Buffer, bad: (problem: string) => KvCommandError): KvCommand<Buffer> {
  const count = buffer.readUInt32LE(1)
  let offset = headerBytes
  const take = (what: string): Buffer => {
    if (offset + 4 > buffer.length) throw bad(`a batch cut short before a ${what} length`)
    const length = buffer.readUInt32LE(offset)
    if (length > buffer.length - offset - 4) throw bad(`${what} length ${length} runs past the end`)
    const bytes = buffer.subarray(offset + 4, offset + 4 + length)
    offset += 4 + length
    return bytes
  }
  const puts: { key: Buffer; value: Buffer }[] = []
  for (let i = 0; i < count; i++) puts.push({ key: take('key'), value: take('value') })
  if (offset !== buffer.length) throw bad(`${buffer.length - offset} bytes after the last of ${count} puts`)
  return { op: 'batch', puts }
}

function u32(value: number): Buffer {
  const bytes = Buffer.alloc(4)
  bytes.writeUInt32LE(value)
  return bytes
}

/**
 * The key-value store raftlog node serves: puts, deletes and compare-and-set on byte keys, scans in
 * byte order, and snapshots of the whole map.
 */
export class KvStateMachine implements StateMachine {
  /** Keys and values as binary strings (kv-bytes.ts). */
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
  get(key: KvBytes): Buffer | null {
    const value = this.data.get(toBinary(key))
    return value === undefined ? null : fromBinary(value)
  }

  /**
   * Keys starting with `prefix` and sorting after `after` (all when undefined), in byte order,
   * with their values, as of the last applied entry: serve it after a ReadIndex. At most `limit`
   * pairs and about `maxBytes` of keys and values (always one pair when there is one); `more`
   * says whether pairs were left out.
   */
  scan(prefix: KvBytes, after: KvBytes | undefined, limit: number, maxBytes: number): { pairs: [Buffer, Buffer][]; more: boolean } {
    const keys = this.sortedKeys()
    const start = toBinary(prefix)
    let position = lowerBound(keys, start)
    if (after !== undefined) position = Math.max(position, upperBound(keys, toBinary(after)))
    const pairs: [Buffer, Buffer][] = []
    let bytes = 0
    for (; position < keys.length; position++) {
      const key = keys[position] as string
      if (!key.startsWith(start)) break
      const value = this.data.get(key) as string
      // Binary strings: a char is a byte.
      const size = key.length + value.length
      if (pairs.length === limit || (pairs.length > 0 && bytes + size > maxBytes)) break
      pairs.push([fromBinary(key), fromBinary(value)])
      bytes += size
    }
    return { pairs, more: position < keys.length && (keys[position] as string).startsWith(start) }
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

  private execute(command: KvCommand<Buffer>): KvResult {
    if (command.op === 'batch') {
      for (const { key, value } of command.puts) this.set(toBinary(key), toBinary(value))
      this.writes += command.puts.length
      return { ok: true }
    }
    const key = toBinary(command.key)
    const before = this.data.get(key)
    const held = (): Buffer | null => (before === undefined ? null : fromBinary(before))
    if (command.op !== 'get') this.writes++
    switch (command.op) {
      case 'get':
        return { ok: true, value: held() }
      case 'put':
        this.set(key, toBinary(command.value))
        return command.previous === true ? { ok: true, value: held() } : { ok: true }
      case 'delete':
        this.remove(key)
        return { ok: before !== undefined }
      case 'cas':
        if (before !== (command.expected === null ? undefined : toBinary(command.expected))) return { ok: false, value: held() }
        this.set(key, toBinary(command.value))
        return { ok: true, value: held() }
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
