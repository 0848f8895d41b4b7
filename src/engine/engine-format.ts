// The shared log engine's file format, version 1, as pure functions over a Buffer: file names,
// the file header, batch frames and the records inside them. LogEngine writes with them, the
// recovery walk (engine-walk.ts) reads with them.
//
// File `engine_<sequence as 20 digits>.log`, fixed size (an entry too large gets a file sized to fit):
//   header, 64 bytes: magic `RENG` | version u32 | file sequence u64 | first batch sequence u64 |
//   reserved | header CRC-32 at 52 over bytes 0..51 | reserved.
//   Batch frames from byte 64, 8-byte aligned, each one flush's records (or a part of them):
//     0 records length u32 (bytes after this 32-byte header; a multiple of 8)
//     4 CRC-32 over every record's CRC word in order, then bytes 0..3 and 8..31 of this header
//     8 batch sequence u64 (one more than the batch before it, across files)
//     16 record count u32, then 12 reserved zero bytes
//   Records, 8-byte aligned, each naming its group:
//     0 payload length u32 | 4 CRC-32 over bytes 0..3 and 8..(40 + length) | 8 kind u8 |
//     9 entry type u8 | 10 reserved u16 | 12 vote u32 | 16 group u64 | 24 index u64 | 32 term u64 |
//     40 payload, zero padding to a multiple of 8.
import { basename } from 'node:path'
import { crc32Range } from '../storage/crc32.js'
import { readU64, writeU64 } from '../storage/segment-format.js'

export const engineMagic = 'RENG'
export const engineVersion = 1
export const fileHeaderSizeBytes = 64
export const batchHeaderSizeBytes = 32
export const recordHeaderSizeBytes = 40
export const recordAlignmentBytes = 8
/** Default size of each engine file. */
export const defaultEngineFileSizeBytes = 64 * 1024 * 1024

/** What a record says; replay applies them in file order (group-index.ts). */
export enum RecordKind {
  /** One entry at `index` with `term`; drops the group's entries from `index` on first. */
  Entry = 1,
  /** Drops the group's entries after `index`. */
  Truncate = 2,
  /** The group's first index becomes `index`, the term before it `term`; earlier entries go. Payload: the group's last index then (u64). */
  Compact = 3,
  /** The group holds no entries; its next is `index`, the term before it `term`. Creates the group. */
  Reset = 4,
  /** The group's hard state: `term`, vote, commit in `index`. */
  HardState = 5,
  /** The group is gone, with everything it held. */
  Remove = 6,
}

const maxRecordKind = RecordKind.Remove
const magicBytes = Buffer.from(engineMagic, 'ascii')

export function engineFileName(sequence: number): string {
  return `engine_${String(sequence).padStart(20, '0')}.log`
}

const engineFilePattern = /^engine_(\d{20})\.log$/

/** The sequence an engine file's name carries, or undefined for any other file. */
export function parseEngineFileName(name: string): number | undefined {
  const match = engineFilePattern.exec(basename(name))
  if (match?.[1] === undefined) return undefined
  const sequence = Number(match[1])
  return Number.isSafeInteger(sequence) ? sequence : undefined
}

export interface EngineFileHeader {
  sequence: number
  /** Sequence of the first batch frame this file holds (or will hold). */
  firstBatch: number
}

/** The 64 bytes of a file header. */
export function fileHeaderBytes(header: EngineFileHeader): Buffer {
  const bytes = Buffer.alloc(fileHeaderSizeBytes)
  magicBytes.copy(bytes, 0)
  bytes.writeUInt32LE(engineVersion, 4)
  writeU64(bytes, 8, header.sequence)
  writeU64(bytes, 16, header.firstBatch)
  bytes.writeUInt32LE(crc32Range(bytes, 0, 52), 52)
  return bytes
}

/** Parses and checks a file header; says what is wrong instead when it cannot be trusted. */
export function readFileHeader(bytes: Buffer): EngineFileHeader | string {
  if (bytes.length < fileHeaderSizeBytes) return `${bytes.length} bytes, shorter than a header`
  if (!bytes.subarray(0, 4).equals(magicBytes)) return 'not an engine file: header bad magic'
  if (crc32Range(bytes, 0, 52) !== bytes.readUInt32LE(52)) return 'header checksum mismatch'
  const version = bytes.readUInt32LE(4)
  if (version !== engineVersion) return `unsupported version ${version}`
  const sequence = readU64(bytes, 8)
  const firstBatch = readU64(bytes, 16)
  if (Number.isNaN(sequence) || Number.isNaN(firstBatch)) return 'header holds a number past 2^53'
  return { sequence, firstBatch }
}

/** Bytes a record with this payload takes, padding included. */
export function recordSizeBytes(payloadLength: number): number {
  return recordHeaderSizeBytes + alignUp8(payloadLength)
}

export function alignUp8(value: number): number {
  return (value + 7) & ~7
}

/** One record's fields, as written and as read back. */
export interface RecordFields {
  kind: RecordKind
  group: number
  index: number
  term: number
  /** Entry type for an Entry record; 0 otherwise. */
  entryType: number
  /** Vote of a HardState record; 0 otherwise. */
  vote: number
}

/**
 * Writes a record at `offset` of `bytes` (zeros there, padding included) and returns its CRC
 * word; the caller folds it into the batch's CRC.
 */
export function writeRecord(bytes: Buffer, offset: number, fields: RecordFields, payload: Uint8Array): number {
  bytes.writeUInt32LE(payload.length, offset)
  bytes[offset + 8] = fields.kind
  bytes[offset + 9] = fields.entryType
  bytes.writeUInt32LE(fields.vote >>> 0, offset + 12)
  writeU64(bytes, offset + 16, fields.group)
  writeU64(bytes, offset + 24, fields.index)
  writeU64(bytes, offset + 32, fields.term)
  bytes.set(payload, offset + recordHeaderSizeBytes)
  const crc = recordChecksum(bytes, offset, payload.length)
  bytes.writeUInt32LE(crc, offset + 4)
  return crc
}

/** CRC-32 over a record's bytes 0..3 and 8..(40 + length): everything but the CRC itself. */
export function recordChecksum(bytes: Uint8Array, offset: number, payloadLength: number): number {
  return crc32Range(bytes, offset + 8, offset + recordHeaderSizeBytes + payloadLength, crc32Range(bytes, offset, offset + 4))
}

/** Reads a record's fields (no checks: the caller checked its CRC). */
export function readRecord(bytes: Buffer, offset: number): RecordFields {
  return {
    kind: bytes[offset + 8] as RecordKind,
    entryType: bytes[offset + 9] as number,
    vote: bytes.readUInt32LE(offset + 12),
    group: readU64(bytes, offset + 16),
    index: readU64(bytes, offset + 24),
    term: readU64(bytes, offset + 32),
  }
}

export function recordPayloadLength(bytes: Buffer, offset: number): number {
  return bytes.readUInt32LE(offset)
}

/** What is wrong with the fields of a record whose CRC holds, or undefined: a bad kind or number. */
export function recordProblem(fields: RecordFields): string | undefined {
  if (fields.kind < RecordKind.Entry || fields.kind > maxRecordKind) return `unknown record kind ${fields.kind}`
  if (Number.isNaN(fields.group) || Number.isNaN(fields.index) || Number.isNaN(fields.term)) return 'a record holds a number past 2^53'
  if (fields.kind === RecordKind.Entry && fields.entryType > 2) return `unknown entry type ${fields.entryType}`
  return undefined
}

/** Fills in a batch frame's header at `offset`, once its records follow it. */
export function writeBatchHeader(bytes: Buffer, offset: number, recordsLength: number, sequence: number, count: number, recordCrcs: number): void {
  bytes.writeUInt32LE(recordsLength, offset)
  writeU64(bytes, offset + 8, sequence)
  bytes.writeUInt32LE(count, offset + 16)
  bytes.writeUInt32LE(batchChecksum(bytes, offset, recordCrcs), offset + 4)
}

/** The batch CRC from the records' CRCs so far (`recordCrcs`) and the header's own fields. */
export function batchChecksum(bytes: Uint8Array, offset: number, recordCrcs: number): number {
  const withLength = crc32Range(bytes, offset, offset + 4, recordCrcs)
  return crc32Range(bytes, offset + 8, offset + batchHeaderSizeBytes, withLength)
}

/** Folds one record's CRC word into the running CRC of a batch's record CRCs. */
export function foldRecordCrc(running: number, recordCrc: number): number {
  crcWord.writeUInt32LE(recordCrc >>> 0, 0)
  return crc32Range(crcWord, 0, 4, running)
}
const crcWord = Buffer.alloc(4)
