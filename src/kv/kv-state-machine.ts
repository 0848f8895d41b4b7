// The key-value state machine of `raftlog node`: raftlog's own commands (put, get, delete,
// compare-and-set, batch) and etcd's (a transaction of ranges, puts and deletes guarded by
// compares; compaction), over one store with history (mvcc-store.ts): every write gets the next
// revision, every key its create and mod revision and version. Commands and results are compact
// bytes. Reads do not go through the log: a node serves them from its state after a ReadIndex
// (see node-server.ts); a get command is still understood.
import type { LogEntry } from '../storage/log-entry.js'
import type { StateMachine } from '../raft/state-machine.js'
import { RaftLogError } from '../errors.js'
import { decodeKvSnapshot, encodeKvSnapshot } from './kv-snapshot.js'
import { fromBinary, kvBuffer, toBinary, type KvBytes } from './kv-bytes.js'
import { MvccStore, type KeyChange, type KeyEvent } from './mvcc-store.js'
import { lowerBound, upperBound } from './sorted-keys.js'
import { applyTxn, maxTxnAnswerBytes, rangeOf, span as spanOf, txnWrites, type RangeRequest, type RangeResponse, type TxnOutcome, type TxnRequest } from './kv-txn.js'
import { LeaseTable, type LeaseInfo } from './lease-table.js'
import { decodeBlobJson, encodeBlobJson } from './kv-blob-json.js'
import { packTxn, unpackTxn } from './kv-txn-codec.js'
import { isPackedTxnOutcome, packTxnOutcome, unpackTxnOutcome } from './kv-txn-outcome-codec.js'

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
  /** etcd's transaction (a put or delete range is one without compares), applied at one revision: its answer is a TxnOutcome (decodeTxnResult). */
  | { op: 'txn'; txn: TxnRequest }
  /** Forgets the history a read at `revision` or later does not need; answers { revision, compacted }. */
  | { op: 'compact'; revision: number }
  /** Grants lease `id` (chosen by the proposer, 1 to 2^53 - 1) with `ttl` seconds; answers a LeaseOutcome. */
  | { op: 'leaseGrant'; id: number; ttl: number }
  /** Revokes lease `id`, deleting its keys at one revision (also how an expiry is committed); answers a LeaseOutcome. */
  | { op: 'leaseRevoke'; id: number }
  /**
   * The leader's lease checkpoints (etcd's LeaseCheckpoint): the seconds each lease had left, 0
   * for one kept alive since (its whole TTL counts again), as the leader saw the leases at its
   * applied index `proposedAt`. Changes no key and no revision. Passed over: a lease that is gone,
   * and one granted after `proposedAt` (the same id granted again: not the lease the leader saw).
   * Answers { revision }.
   */
  | { op: 'leaseCheckpoint'; proposedAt: number; checkpoints: readonly LeaseCheckpoint[] }

/** The commands that name one key: put, get, delete, cas. */
export type KeyedKvCommand<B extends KvBytes = Buffer> = Extract<KvCommand<B>, { key: B }>

/** What a lease had left when the leader checkpointed it (s); 0: kept alive, its whole TTL counts again. */
export interface LeaseCheckpoint {
  id: number
  remaining: number
}

/** Most checkpoints in one entry (etcd's maxLeaseCheckpointBatchSize). */
export const maxLeaseCheckpointsPerEntry = 1000
/** A checkpoint entry's op, count u32 and proposedAt u64. */
const checkpointHeaderBytes = 13

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

const opCodes = { put: 1, get: 2, delete: 3, cas: 4, batch: 5, txn: 6, compact: 7, leaseGrant: 8, leaseRevoke: 9, leaseCheckpoint: 10, txnPacked: 11 } as const
/** Set on a put's op code: answer with the previous value. */
const previousFlag = 0x80
const absent = 0xffffffff
/** op u8 + key length u32. */
const headerBytes = 5

/**
 * [op u8][key length u32][key] then: put [value]; cas [expected length u32 or 0xffffffff][expected][value].
 * A batch: [5][count u32] then per put [key length u32][key][value length u32][value].
 * A transaction: [11] then the TxnRequest packed (kv-txn-codec.ts), or [6] then it in kv-blob-json.ts's
 * form (one whose shape is wrong, and every transaction written before the packed form); a
 * compaction: [7][revision u64].
 * A lease grant: [8][id u64][ttl u64]; a lease revoke: [9][id u64]; lease checkpoints:
 * [10][count u32][proposedAt u64] then per lease [id u64][remaining u64].
 */
export function encodeKvCommand(command: KvCommand): Uint8Array {
  if (command.op === 'batch') return encodeBatch(command.puts)
  if (command.op === 'leaseCheckpoint') {
    const bytes = Buffer.alloc(checkpointHeaderBytes + 16 * command.checkpoints.length)
    bytes[0] = opCodes.leaseCheckpoint
    bytes.writeUInt32LE(command.checkpoints.length, 1)
    bytes.writeBigUInt64LE(BigInt(command.proposedAt), 5)
    command.checkpoints.forEach(({ id, remaining }, i) => {
      bytes.writeBigUInt64LE(BigInt(id), checkpointHeaderBytes + 16 * i)
      bytes.writeBigUInt64LE(BigInt(remaining), checkpointHeaderBytes + 8 + 16 * i)
    })
    return bytes
  }
  if (command.op === 'leaseGrant' || command.op === 'leaseRevoke') {
    const bytes = Buffer.alloc(command.op === 'leaseGrant' ? 17 : 9)
    bytes[0] = opCodes[command.op]
    bytes.writeBigUInt64LE(BigInt(command.id), 1)
    if (command.op === 'leaseGrant') bytes.writeBigUInt64LE(BigInt(command.ttl), 9)
    return bytes
  }
  // Packed when it has a transaction's shape; anything else goes as JSON, for the check to name what is wrong.
  if (command.op === 'txn') return packTxn(command.txn, opCodes.txnPacked) ?? encodeBlobJson(command.txn, Uint8Array.of(opCodes.txn))
  if (command.op === 'compact') {
    const bytes = Buffer.alloc(9)
    bytes[0] = opCodes.compact
    bytes.writeBigUInt64LE(BigInt(command.revision), 1)
    return bytes
  }
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
  if (op === opCodes.txn) return { op: 'txn', txn: checkedTxn(decodeBlobJson(buffer.subarray(1)), bad) }
  if (op === opCodes.txnPacked) return { op: 'txn', txn: unpackTxn(buffer.subarray(1), bad) }
  if (op === opCodes.compact) {
    if (buffer.length !== 9) throw bad('a compaction is 9 bytes')
    return { op: 'compact', revision: Number(buffer.readBigUInt64LE(1)) }
  }
  if (op === opCodes.leaseGrant) {
    if (buffer.length !== 17) throw bad('a lease grant is 17 bytes')
    return { op: 'leaseGrant', id: Number(buffer.readBigUInt64LE(1)), ttl: Number(buffer.readBigUInt64LE(9)) }
  }
  if (op === opCodes.leaseRevoke) {
    if (buffer.length !== 9) throw bad('a lease revoke is 9 bytes')
    return { op: 'leaseRevoke', id: Number(buffer.readBigUInt64LE(1)) }
  }
  if (op === opCodes.leaseCheckpoint) {
    const count = buffer.readUInt32LE(1)
    if (count > maxLeaseCheckpointsPerEntry) throw bad(`${count} lease checkpoints, more than ${maxLeaseCheckpointsPerEntry}`)
    if (buffer.length !== checkpointHeaderBytes + 16 * count) throw bad(`${count} lease checkpoints are ${checkpointHeaderBytes + 16 * count} bytes`)
    const checkpoints = Array.from({ length: count }, (_, i) => ({ id: Number(buffer.readBigUInt64LE(checkpointHeaderBytes + 16 * i)), remaining: Number(buffer.readBigUInt64LE(checkpointHeaderBytes + 8 + 16 * i)) }))
    return { op: 'leaseCheckpoint', proposedAt: Number(buffer.readBigUInt64LE(5)), checkpoints }
  }
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

/** The commands of etcd's API, answered in kv-blob-json.ts's form (a transaction: packed, kv-txn-outcome-codec.ts). */
type EtcdOp = 'txn' | 'compact' | 'leaseGrant' | 'leaseRevoke' | 'leaseCheckpoint'

/** Revisions of history a KvStateMachine keeps at least, by default (see its constructor). */
export const defaultHistoryRevisions = 1000

/**
 * What a transaction or compaction answered: its outcome, or the RaftLogError it was refused with
 * (ERR_COMPACTED, ERR_FUTURE_REVISION, ERR_KEY_NOT_FOUND, ERR_LEASE_NOT_FOUND, ERR_BAD_ARGUMENT).
 */
export function decodeTxnResult(bytes: Uint8Array): TxnOutcome {
  return decodeEtcdResult(bytes) as TxnOutcome
}

/** What a lease grant or revoke answered: the store's revision after it, the lease's id and granted TTL (s). */
export interface LeaseOutcome {
  revision: number
  id: number
  ttl: number
}

/** A lease grant's or revoke's answer, or the RaftLogError it was refused with (ERR_LEASE_EXISTS, ERR_LEASE_NOT_FOUND, ERR_BAD_ARGUMENT). */
export function decodeLeaseResult(bytes: Uint8Array): LeaseOutcome {
  return decodeEtcdResult(bytes) as LeaseOutcome
}

function decodeEtcdResult(bytes: Uint8Array): unknown {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)
  if (isPackedTxnOutcome(buffer)) return unpackTxnOutcome(buffer, (problem) => new KvCommandError(`Not a transaction's answer (${bytes.length} bytes): ${problem}`))
  const decoded = decodeBlobJson(buffer) as { error?: { code: string; message: string } }
  if (decoded === null || typeof decoded !== 'object') throw new KvCommandError(`Not a key-value answer (${bytes.length} bytes): ${JSON.stringify(decoded)}`)
  if (decoded.error !== undefined) throw new RaftLogError(decoded.error.code, decoded.error.message)
  return decoded
}

/** Told of every change of the store as it is applied (a watch hub). */
export interface KvChangeListener {
  /** A write at `revision` changed these keys (events in key order). */
  changed(revision: number, events: KeyEvent[]): void
  /** The whole store was replaced (a snapshot was installed): read again from the history what you need. */
  reset(): void
}

/** Told of the leases as they are applied (the leader's lease clock). */
export interface LeaseListener {
  granted(id: number, ttl: number): void
  revoked(id: number): void
  /** A checkpoint of lease `id` was applied: `remaining` seconds left, or 0 (kept alive: its whole TTL counts again). */
  checkpointed(id: number, remaining: number): void
  /** Every lease was replaced (a snapshot was installed). */
  reset(): void
}

/** A decoded transaction's shape checked, so a malformed one is refused before the log (its parts are trusted after). */
function checkedTxn(value: unknown, bad: (problem: string) => KvCommandError): TxnRequest {
  const txn = value as TxnRequest
  if (txn === null || typeof txn !== 'object' || !Array.isArray(txn.compare) || !Array.isArray(txn.success) || !Array.isArray(txn.failure)) throw bad('a transaction without its compare, success and failure lists')
  for (const op of [...txn.success, ...txn.failure]) {
    if (op === null || typeof op !== 'object') throw bad('a transaction operation that is not an object')
    const request = 'range' in op ? op.range : 'put' in op ? op.put : 'deleteRange' in op ? op.deleteRange : undefined
    if ('txn' in op) checkedTxn(op.txn, bad)
    else if (request === undefined || !Buffer.isBuffer(request.key)) throw bad('a transaction operation without its key')
  }
  for (const compare of txn.compare) if (compare === null || typeof compare !== 'object' || !Buffer.isBuffer(compare.key)) throw bad('a compare without its key')
  return txn
}

/**
 * The key-value store raftlog node serves: puts, deletes and compare-and-set on byte keys, scans in
 * byte order, etcd's transactions, ranges at a past revision and compaction, and snapshots of the
 * whole store with its history.
 */
export class KvStateMachine implements StateMachine {
  /** Keys, values and their history (keys and values as binary strings, kv-bytes.ts). */
  private readonly store = new MvccStore()
  private readonly leases = new LeaseTable()
  private readonly changeListeners = new Set<KvChangeListener>()
  private readonly leaseListeners = new Set<LeaseListener>()
  /** Writes applied (raftlog commands per key, a transaction or compaction as one), in the state (and its snapshots): equal on every node at the same index. */
  private writes = 0
  private readonly historyRevisions: number

  /**
   * `historyRevisions`: the revisions of history always kept (default 1,000). Once twice as
   * many have gathered since the last compaction, the store compacts up to its revision less
   * this many, by itself, as etcd's `--auto-compaction-mode=revision` does: the history stays
   * bounded in memory and in snapshots. Decided by revisions alone, so every node compacts at
   * the same entry; every node of a cluster must use the same value. 0: only compactions asked for.
   */
  constructor(options: { historyRevisions?: number } = {}) {
    const history = options.historyRevisions ?? defaultHistoryRevisions
    if (!Number.isSafeInteger(history) || history < 0) throw new RaftLogError('ERR_BAD_ARGUMENT', `historyRevisions must be a whole number of revisions, 0 or more, got ${String(history)}`)
    this.historyRevisions = history
    this.store.onWrite((revision, eventsOf) => {
      // With no lease, no key has one to attach or detach; with no listener, no one asks: most writes build no events.
      if (this.leases.size === 0 && this.changeListeners.size === 0) return
      const events = eventsOf()
      for (const event of events) {
        if (event.prev !== undefined && event.prev.lease !== 0) this.leases.detach(event.prev.lease, event.key)
        if (event.change.value !== undefined && event.change.lease !== 0) this.leases.attach(event.change.lease, event.key)
      }
      for (const listener of this.changeListeners) listener.changed(revision, events)
    })
  }

  apply(entry: LogEntry): Uint8Array {
    const command = decodeKvCommand(entry.data)
    const etcd = command.op === 'txn' || command.op === 'compact' || command.op === 'leaseGrant' || command.op === 'leaseRevoke' || command.op === 'leaseCheckpoint'
    // A transaction in the JSON form came from a client before the packed forms (or is an entry it
    // wrote): its answer goes in JSON too, which that client reads.
    const result = etcd ? this.executeEtcd(command, entry.index, entry.data[0] === opCodes.txn) : encodeKvResult(this.execute(command))
    this.compactHistory()
    return result
  }

  /** Tells `listener` of every change from now on; answers what stops it. */
  onChange(listener: KvChangeListener): () => void {
    this.changeListeners.add(listener)
    return () => this.changeListeners.delete(listener)
  }

  /** Tells `listener` of every lease granted or revoked from now on; answers what stops it. */
  onLease(listener: LeaseListener): () => void {
    this.leaseListeners.add(listener)
    return () => this.leaseListeners.delete(listener)
  }

  /**
   * The events of keys from `start` to `end` at revisions `from` to now (see MvccStore.eventsSince):
   * what a watch replays. ERR_COMPACTED when `from` is at or below the compaction point.
   */
  eventsSince(key: Buffer, rangeEnd: Buffer, from: number): KeyEvent[] {
    const [start, end] = spanOf(key, rangeEnd)
    return this.store.eventsSince(start, end, from)
  }

  /** Every lease, by id, with its granted TTL (s) and what it had left at its last checkpoint, if one counts. */
  leaseList(): LeaseInfo[] {
    return this.leases.list()
  }

  /** Lease `id`'s granted TTL and the seconds it had left at its last checkpoint (0: none counts), without its keys; undefined when there is no such lease. */
  leaseTimes(id: number): { ttl: number; remaining: number } | undefined {
    const ttl = this.leases.ttlOf(id)
    return ttl === undefined ? undefined : { ttl, remaining: this.leases.remainingOf(id) ?? 0 }
  }

  /**
   * Lease `id`'s granted TTL (s), its keys (bytes, in byte order) and the seconds it had left at its
   * last checkpoint (0: none counts), or undefined when there is no such lease.
   */
  lease(id: number): { ttl: number; keys: Buffer[]; remaining: number } | undefined {
    const ttl = this.leases.ttlOf(id)
    if (ttl === undefined) return undefined
    const keys = Array.from(this.leases.keysOf(id) ?? []).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    return { ttl, keys: keys.map(fromBinary), remaining: this.leases.remainingOf(id) ?? 0 }
  }

  /** The automatic compaction (see the constructor). */
  private compactHistory(): void {
    const store = this.store
    if (this.historyRevisions === 0 || store.revision - store.compactRevision < 2 * this.historyRevisions) return
    store.compact(store.revision - this.historyRevisions)
  }

  /** Keys that exist now. */
  get size(): number {
    return this.store.size
  }

  /** The revision of the last write (1 before any, as etcd). */
  get revision(): number {
    return this.store.revision
  }

  /** Revisions below this one are compacted away (0: none). */
  get compactRevision(): number {
    return this.store.compactRevision
  }

  /** The first revision a watch can start from (0: nothing compacted); see MvccStore.firstEventRevision. */
  get firstEventRevision(): number {
    return this.store.firstEventRevision
  }

  /** Writes (put, delete, cas) applied up to the last applied entry, retries answered from a session table not counted. */
  get writesApplied(): number {
    return this.writes
  }

  /** The value of `key` (null: absent), as of the last applied entry: serve it after a ReadIndex. */
  get(key: KvBytes): Buffer | null {
    const change = this.store.get(toBinary(key))
    return change === undefined ? null : fromBinary(change.value as string)
  }

  /** etcd's range as of the last applied entry (or an older revision); ERR_COMPACTED, ERR_FUTURE_REVISION. */
  range(request: RangeRequest): RangeResponse {
    return rangeOf(this.store, request)
  }

  /** A transaction that writes nothing, answered from the state as of the last applied entry (serve it after a ReadIndex). */
  readTxn(txn: TxnRequest): TxnOutcome {
    if (txnWrites(txn)) throw new RaftLogError('ERR_BAD_ARGUMENT', 'readTxn: the transaction writes: propose it')
    return applyTxn(this.store, txn)
  }

  /**
   * Keys starting with `prefix` and sorting after `after` (all when undefined), in byte order,
   * with their values, as of the last applied entry: serve it after a ReadIndex. At most `limit`
   * pairs and about `maxBytes` of keys and values (always one pair when there is one); `more`
   * says whether pairs were left out.
   */
  scan(prefix: KvBytes, after: KvBytes | undefined, limit: number, maxBytes: number): { pairs: [Buffer, Buffer][]; more: boolean } {
    const keys = this.store.sortedKeys()
    const start = toBinary(prefix)
    let position = lowerBound(keys, start)
    if (after !== undefined) position = Math.max(position, upperBound(keys, toBinary(after)))
    const pairs: [Buffer, Buffer][] = []
    let bytes = 0
    let more = false
    for (; position < keys.length; position++) {
      const key = keys[position] as string
      if (!key.startsWith(start)) break
      // Keys deleted but still in the history are skipped.
      const value = this.store.get(key)?.value
      if (value === undefined) continue
      // Binary strings: a char is a byte.
      const size = key.length + value.length
      if (pairs.length === limit || (pairs.length > 0 && bytes + size > maxBytes)) {
        more = true
        break
      }
      pairs.push([fromBinary(key), fromBinary(value)])
      bytes += size
    }
    return { pairs, more }
  }

  /** The store with its history as of now (captured at once: later writes do not change it). */
  snapshot(): AsyncIterable<Uint8Array> {
    return encodeKvSnapshot(this.store.capture(), this.writes, this.leases.list())
  }

  async restore(chunks: AsyncIterable<Uint8Array>): Promise<void> {
    const keys: [string, KeyChange[]][] = []
    const summary = await decodeKvSnapshot(chunks, (key, changes) => keys.push([key, changes]))
    this.store.load({ revision: summary.revision, compacted: summary.compacted, eventsFrom: summary.eventsFrom, keys })
    this.leases.load(summary.leases)
    for (const [key, changes] of keys) {
      const last = changes.at(-1)
      if (last?.value !== undefined && last.lease !== 0) this.leases.attach(last.lease, key)
    }
    this.writes = summary.writes
    for (const listener of this.leaseListeners) listener.reset()
    for (const listener of this.changeListeners) listener.reset()
  }

  /** An etcd command's answer; a refusal is an answer too (never thrown: the entry is committed, and every node must answer it alike). */
  private executeEtcd(command: Extract<KvCommand<Buffer>, { op: EtcdOp }>, index: number, answerInJson: boolean): Uint8Array {
    try {
      if (command.op === 'leaseCheckpoint') {
        // Not a write of the store: no revision, no write counted.
        for (const { id, remaining } of this.leases.checkpoint(command.checkpoints, command.proposedAt)) {
          for (const listener of this.leaseListeners) listener.checkpointed(id, remaining)
        }
        return encodeBlobJson({ revision: this.store.revision })
      }
      this.writes++
      if (command.op === 'compact') {
        this.store.compact(command.revision)
        return encodeBlobJson({ revision: this.store.revision, compacted: command.revision })
      }
      if (command.op === 'leaseGrant') {
        this.leases.grant(command.id, command.ttl, index)
        for (const listener of this.leaseListeners) listener.granted(command.id, command.ttl)
        return encodeBlobJson({ revision: this.store.revision, id: command.id, ttl: command.ttl })
      }
      if (command.op === 'leaseRevoke') {
        const ttl = this.leases.ttlOf(command.id) ?? 0
        const keys = this.leases.revoke(command.id)
        // etcd deletes a lease's keys in one write: one revision, whatever their number.
        this.store.write(() => {
          for (const key of keys) this.store.delete(key)
        })
        for (const listener of this.leaseListeners) listener.revoked(command.id)
        return encodeBlobJson({ revision: this.store.revision, id: command.id, ttl })
      }
      const outcome = applyTxn(this.store, command.txn, this.leases, maxTxnAnswerBytes)
      return answerInJson ? encodeBlobJson(outcome) : packTxnOutcome(outcome)
    } catch (error) {
      const code = (error as { code?: unknown }).code
      return encodeBlobJson({ error: { code: typeof code === 'string' ? code : 'ERR_APPLY', message: (error as Error).message } })
    }
  }

  private execute(command: Exclude<KvCommand<Buffer>, { op: EtcdOp }>): KvResult {
    const store = this.store
    if (command.op === 'batch') {
      store.write(() => {
        for (const { key, value } of command.puts) store.put(toBinary(key), toBinary(value))
      })
      this.writes += command.puts.length
      return { ok: true }
    }
    const key = toBinary(command.key)
    const before = store.get(key)?.value
    const held = (): Buffer | null => (before === undefined ? null : fromBinary(before))
    if (command.op !== 'get') this.writes++
    switch (command.op) {
      case 'get':
        return { ok: true, value: held() }
      case 'put':
        store.write(() => store.put(key, toBinary(command.value)))
        return command.previous === true ? { ok: true, value: held() } : { ok: true }
      case 'delete':
        store.write(() => store.delete(key))
        return { ok: before !== undefined }
      case 'cas':
        if (before !== (command.expected === null ? undefined : toBinary(command.expected))) return { ok: false, value: held() }
        store.write(() => store.put(key, toBinary(command.value)))
        return { ok: true, value: held() }
    }
  }
}
