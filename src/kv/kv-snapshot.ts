// The key-value store's snapshot bytes: a version word, then records, then an end record.
//
// Version 5 (written), the store with its history and leases:
//   "KVS5"                                   format and version
//   0x03 revision u64, compacted i64,        the store's revision and compaction point (once,
//        events from i64                     first; -1: never compacted, as a compaction up to 0
//                                            is one), and the first revision whose events are all
//                                            held (a watch may start there): the compaction point,
//                                            whose deletes are kept since version 5, or one past it
//                                            in a store restored from an older snapshot
//   0x04 key length u32, key, changes u32,   one per key with history, then per change, oldest first:
//        mod u64, sub u32, create u64, version u64, lease u64, has value u8 (0: a delete),
//        [value length u32, value]
//        (sub: the change's place in its write, which orders a revision's events)
//   0x05 lease id u64, granted TTL u64 (s)   one per lease (its keys are the live keys naming it)
//   0x06 lease id u64, remaining u64 (s)     after its lease's 0x05, for a lease whose last
//                                            checkpoint counts (lease-table.ts)
//   0x07 lease id u64, grant index u64       after its lease's 0x05: the log index of its grant
//                                            (a checkpoint passes over a later grant of the id)
//   (0x06 and 0x07 are written since lease checkpoints; a lease without 0x07 has grant index 0)
//   0x02 writes applied u64                  the store's count of writes (once)
//   0xff                                     end
//
// Version 4 (read, never written): as version 5 without events from (one past the compaction
// point: a delete made at it was not kept).
//
// Version 3 (read, never written): as version 4 without sub (every change restored with sub 0: a
// revision's events replay in key order), its compaction point u64 (0: never compacted, as no
// compaction up to 0 was taken then).
//
// Version 2 (read, never written): as version 3 without leases (no lease field, no 0x05 records).
//
// Version 1 (read, never written), the values alone:
//   "KVS1", then 0x01 key length u32, key, value length u32, value per key, 0x02 writes u64, 0xff.
//   Each key is restored as created and last changed at the revision 1 + writes applied (every
//   node that restores the same snapshot gets the same revisions), the store at that revision.
//
// Keys and values are bytes, exactly (the store's binary strings, kv-bytes.ts, one char per
// byte). Snapshots written while the store held UTF-8 text have the same layout: their bytes are
// the UTF-8 of each key and value, which is what those keys are now. Written in batches of about
// batchBytes; read back from chunks cut anywhere.
import { RaftLogError } from '../errors.js'
import { ChunkReader } from '../raft/node/chunk-reader.js'
import { initialRevision, type KeyChange, type MvccState } from './mvcc-store.js'
import type { LeaseInfo } from './lease-table.js'

const magicV1 = Buffer.from('KVS1', 'ascii')
const magicV2 = Buffer.from('KVS2', 'ascii')
const magicV3 = Buffer.from('KVS3', 'ascii')
const magicV4 = Buffer.from('KVS4', 'ascii')
const magicV5 = Buffer.from('KVS5', 'ascii')
const recordPair = 0x01
const recordWrites = 0x02
const recordRevision = 0x03
const recordKey = 0x04
const recordLease = 0x05
const recordLeaseCheckpoint = 0x06
const recordLeaseGrantIndex = 0x07
/** A change's fixed part in version 4: mod, sub, create, version, lease, has value; then the value's length when it has one. */
const changeBytesV4 = 37
/** Version 3's: mod, create, version, lease, has value. */
const changeBytesV3 = 33
/** Version 2's: mod, create, version, has value. */
const changeBytesV2 = 25
const recordEnd = 0xff
/** Bytes gathered before a batch of records is handed on. */
const batchBytes = 64 * 1024

/** The snapshot of `state` and `leases` (captured by the caller at the moment that matters) and the count of writes, as chunks. */
export async function* encodeKvSnapshot(state: MvccState, writesApplied = 0, leases: readonly LeaseInfo[] = []): AsyncGenerator<Uint8Array> {
  const revision = Buffer.alloc(25)
  revision[0] = recordRevision
  revision.writeBigUInt64LE(BigInt(state.revision), 1)
  revision.writeBigInt64LE(BigInt(state.compacted), 9)
  revision.writeBigInt64LE(BigInt(state.eventsFrom), 17)
  let parts: Buffer[] = [magicV5, revision]
  let size = magicV5.length + revision.length
  for (const [key, changes] of state.keys) {
    const keyBytes = Buffer.from(key, 'latin1')
    const head = Buffer.allocUnsafe(9)
    head[0] = recordKey
    head.writeUInt32LE(keyBytes.length, 1)
    head.writeUInt32LE(changes.length, 5)
    parts.push(head.subarray(0, 5), keyBytes, head.subarray(5))
    size += 9 + keyBytes.length
    for (const change of changes) {
      const fixed = Buffer.allocUnsafe(change.value === undefined ? changeBytesV4 : changeBytesV4 + 4)
      fixed.writeBigUInt64LE(BigInt(change.mod), 0)
      // Throws past 2^32 - 1 changes in one write, far beyond what one write can hold in memory.
      fixed.writeUInt32LE(change.sub, 8)
      fixed.writeBigUInt64LE(BigInt(change.create), 12)
      fixed.writeBigUInt64LE(BigInt(change.version), 20)
      fixed.writeBigUInt64LE(BigInt(change.lease), 28)
      fixed[36] = change.value === undefined ? 0 : 1
      parts.push(fixed)
      size += fixed.length
      if (change.value !== undefined) {
        const value = Buffer.from(change.value, 'latin1')
        fixed.writeUInt32LE(value.length, changeBytesV4)
        parts.push(value)
        size += value.length
      }
    }
    if (size >= batchBytes) {
      yield Buffer.concat(parts)
      parts = []
      size = 0
    }
  }
  for (const lease of leases) {
    parts.push(leaseRecord(recordLease, lease.id, lease.ttl))
    if (lease.remaining !== undefined && lease.remaining > 0) parts.push(leaseRecord(recordLeaseCheckpoint, lease.id, lease.remaining))
    if (lease.grantIndex !== undefined && lease.grantIndex > 0) parts.push(leaseRecord(recordLeaseGrantIndex, lease.id, lease.grantIndex))
  }
  const writes = Buffer.alloc(9)
  writes[0] = recordWrites
  writes.writeBigUInt64LE(BigInt(writesApplied), 1)
  parts.push(writes, Buffer.from([recordEnd]))
  yield Buffer.concat(parts)
}

/** A 17-byte record of lease `id`: its type, the id and one u64. */
function leaseRecord(type: number, id: number, value: number): Buffer {
  const record = Buffer.alloc(17)
  record[0] = type
  record.writeBigUInt64LE(BigInt(id), 1)
  record.writeBigUInt64LE(BigInt(value), 9)
  return record
}

export interface KvSnapshotSummary {
  revision: number
  /** -1: never compacted. */
  compacted: number
  /** The first revision whose events are all held (MvccState.eventsFrom). */
  eventsFrom: number
  writes: number
  leases: LeaseInfo[]
}

/**
 * Reads a snapshot of any version, handing each key with its changes (binary strings) to
 * `onKey`; resolves with the store's revision, compaction point and count of writes. ERR_CORRUPT
 * when the bytes are not one.
 */
export async function decodeKvSnapshot(chunks: AsyncIterable<Uint8Array>, onKey: (key: string, changes: KeyChange[]) => void): Promise<KvSnapshotSummary> {
  const input = new ChunkReader(chunks)
  const head = await input.take(magicV4.length)
  const magics = [magicV1, magicV2, magicV3, magicV4, magicV5]
  const found = magics.findIndex((magic) => head?.equals(magic) === true)
  if (found < 0) throw bad('it does not start with KVS1, KVS2, KVS3, KVS4 or KVS5')
  const version = found + 1
  const summary: KvSnapshotSummary = { revision: initialRevision, compacted: -1, eventsFrom: -1, writes: 0, leases: [] }
  const pairs: [string, string][] = []
  for (;;) {
    const type = await input.take(1)
    if (type === undefined) throw bad('it ends without its end record')
    if (type[0] === recordEnd) break
    if (type[0] === recordWrites) {
      summary.writes = await u64(input, 'its count of writes')
    } else if (version === 1 && type[0] === recordPair) {
      const key = await input.takeSized()
      const value = await input.takeSized()
      if (key === undefined || value === undefined) throw bad('a record is cut short')
      pairs.push([key.toString('latin1'), value.toString('latin1')])
    } else if (version >= 2 && type[0] === recordRevision) {
      summary.revision = await u64(input, 'its revision')
      if (version >= 4) summary.compacted = await i64(input, 'its compaction point')
      // Before version 4, 0 was never compacted: a compaction up to 0 was refused then.
      else summary.compacted = (await u64(input, 'its compaction point')) || -1
      if (summary.compacted < -1 || summary.compacted > summary.revision) throw bad(`its compaction point ${summary.compacted} is past its revision ${summary.revision}, or below -1`)
      // Before version 5, compaction dropped a delete made at its revision: events from one past it.
      if (version === 5) summary.eventsFrom = await i64(input, 'the first revision of its events')
      else summary.eventsFrom = summary.compacted < 0 ? -1 : summary.compacted + 1
      const held = summary.compacted < 0 ? summary.eventsFrom === -1 : summary.eventsFrom === summary.compacted || summary.eventsFrom === summary.compacted + 1
      if (!held) throw bad(`the first revision of its events ${summary.eventsFrom} is neither its compaction point ${summary.compacted} nor the one after it`)
    } else if (version >= 2 && type[0] === recordKey) {
      const [key, changes] = await keyRecord(input, version)
      onKey(key, changes)
    } else if (version >= 3 && type[0] === recordLease) {
      summary.leases.push({ id: await u64(input, 'a lease id'), ttl: await u64(input, "a lease's TTL") })
    } else if (version >= 3 && type[0] === recordLeaseCheckpoint) {
      const id = await u64(input, "a checkpoint's lease id")
      const remaining = await u64(input, "a checkpoint's remaining TTL")
      const last = summary.leases.at(-1)
      if (last?.id !== id || remaining > last.ttl) throw bad(`a checkpoint of lease ${id} that does not follow that lease, or outlasts its TTL`)
      summary.leases[summary.leases.length - 1] = { ...last, remaining }
    } else if (version >= 3 && type[0] === recordLeaseGrantIndex) {
      const id = await u64(input, "a grant index's lease id")
      const grantIndex = await u64(input, "a lease's grant index")
      const last = summary.leases.at(-1)
      if (last?.id !== id) throw bad(`the grant index of lease ${id} does not follow that lease`)
      summary.leases[summary.leases.length - 1] = { ...last, grantIndex }
    } else throw bad(`unknown record type ${type[0]}`)
  }
  if ((await input.take(1)) !== undefined) throw bad('bytes follow its end record')
  if (version === 1) {
    // The writes count is the one thing every node agrees on at this index: revisions start from it.
    summary.revision = initialRevision + summary.writes
    for (const [key, value] of pairs) onKey(key, [{ mod: summary.revision, sub: 0, create: summary.revision, version: 1, value, lease: 0 }])
  }
  return summary
}

async function keyRecord(input: ChunkReader, version: number): Promise<[string, KeyChange[]]> {
  const fixedBytes = version >= 4 ? changeBytesV4 : version === 3 ? changeBytesV3 : changeBytesV2
  const flag = fixedBytes - 1
  // Version 4 has sub after mod (4 bytes): the fields after it sit 4 bytes further.
  const shift = version >= 4 ? 4 : 0
  const key = await input.takeSized()
  const count = await input.take(4)
  if (key === undefined || count === undefined) throw bad('a key record is cut short')
  const changes: KeyChange[] = []
  for (let i = count.readUInt32LE(0); i > 0; i--) {
    const fixed = await input.take(fixedBytes)
    if (fixed === undefined) throw bad(`a change of a key is cut short`)
    let value: string | undefined
    if (fixed[flag] === 1) {
      const bytes = await input.takeSized()
      if (bytes === undefined) throw bad('a value is cut short')
      value = bytes.toString('latin1')
    } else if (fixed[flag] !== 0) throw bad(`a change with value flag ${fixed[flag]}`)
    const lease = version >= 3 ? Number(fixed.readBigUInt64LE(24 + shift)) : 0
    const sub = version >= 4 ? fixed.readUInt32LE(8) : 0
    changes.push({ mod: Number(fixed.readBigUInt64LE(0)), sub, create: Number(fixed.readBigUInt64LE(8 + shift)), version: Number(fixed.readBigUInt64LE(16 + shift)), value, lease })
  }
  return [key.toString('latin1'), changes]
}

async function i64(input: ChunkReader, what: string): Promise<number> {
  const bytes = await input.take(8)
  if (bytes === undefined) throw bad(`${what} is cut short`)
  return Number(bytes.readBigInt64LE(0))
}

async function u64(input: ChunkReader, what: string): Promise<number> {
  const bytes = await input.take(8)
  if (bytes === undefined) throw bad(`${what} is cut short`)
  return Number(bytes.readBigUInt64LE(0))
}

function bad(problem: string): RaftLogError {
  return new RaftLogError('ERR_CORRUPT', `Not a key-value snapshot: ${problem}`)
}
