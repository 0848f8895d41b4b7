// The snapshot file format, version 1, as pure functions over bytes. A snapshot file is written
// once, front to back, and checked as it is read:
//
//   header (64 bytes)   magic "RSNP", version u32, index u64, term u64, metadata length u32,
//                       reserved u32, created at (ms since 1970) u64, reserved, CRC-32 of 0..59
//   metadata            opaque bytes (the Raft layer keeps the cluster configuration there),
//                       then their CRC-32 u32
//   chunk records       data length u32 (1..maxChunkBytes), CRC-32 of the data u32, data
//   end record          0xffffffff u32, CRC-32 of the 16 bytes after it u32, total data bytes
//                       u64, chunk count u32, CRC-32 of all data u32
//
// Nothing may follow the end record. Little-endian, like the segments.
import { crc32Range } from './crc32.js'
import { readU64, writeU64 } from './segment-format.js'

export const snapshotMagic = 'RSNP'
export const snapshotVersion = 1
export const snapshotHeaderBytes = 64
export const chunkHeaderBytes = 8
export const endRecordBytes = 24
/** The largest chunk record: the writer cuts and coalesces what the state machine yields to this. */
export const maxChunkBytes = 1024 * 1024
/** The largest metadata block (a cluster configuration is far smaller). */
export const maxMetadataBytes = 16 * 1024 * 1024
const endMarker = 0xffffffff
const magicBytes = Buffer.from(snapshotMagic, 'ascii')

export interface SnapshotHeader {
  index: number
  term: number
  metadataLength: number
  createdAtMs: number
}

const fileNamePattern = /^snapshot_(\d{20})\.snap$/

export function snapshotFileName(index: number): string {
  return `snapshot_${String(index).padStart(20, '0')}.snap`
}

/** The index a snapshot file's name carries, or undefined for any other file. */
export function parseSnapshotFileName(name: string): number | undefined {
  const match = fileNamePattern.exec(name)
  return match?.[1] === undefined ? undefined : Number(match[1])
}

export function encodeSnapshotHeader(header: SnapshotHeader): Buffer {
  const bytes = Buffer.alloc(snapshotHeaderBytes)
  magicBytes.copy(bytes, 0)
  bytes.writeUInt32LE(snapshotVersion, 4)
  writeU64(bytes, 8, header.index)
  writeU64(bytes, 16, header.term)
  bytes.writeUInt32LE(header.metadataLength, 24)
  writeU64(bytes, 32, header.createdAtMs)
  bytes.writeUInt32LE(crc32Range(bytes, 0, 60), 60)
  return bytes
}

/** The header, or what is wrong with it. */
export function decodeSnapshotHeader(bytes: Buffer): SnapshotHeader | string {
  if (bytes.length < snapshotHeaderBytes) return `shorter than its ${snapshotHeaderBytes}-byte header`
  if (!bytes.subarray(0, 4).equals(magicBytes)) return 'not a snapshot file (bad magic)'
  if (crc32Range(bytes, 0, 60) !== bytes.readUInt32LE(60)) return 'header checksum mismatch'
  const version = bytes.readUInt32LE(4)
  if (version !== snapshotVersion) return `unsupported version ${version}`
  const header = { index: readU64(bytes, 8), term: readU64(bytes, 16), metadataLength: bytes.readUInt32LE(24), createdAtMs: readU64(bytes, 32) }
  if (!Number.isSafeInteger(header.index) || !Number.isSafeInteger(header.term)) return 'index or term out of range'
  if (header.metadataLength > maxMetadataBytes) return `metadata length ${header.metadataLength} over the limit`
  return header
}

export function encodeChunkHeader(data: Uint8Array, start = 0, end = data.length): Buffer {
  const header = Buffer.alloc(chunkHeaderBytes)
  header.writeUInt32LE(end - start, 0)
  header.writeUInt32LE(crc32Range(data, start, end), 4)
  return header
}

export interface EndRecord {
  totalBytes: number
  chunks: number
  dataCrc: number
}

export function encodeEndRecord(end: EndRecord): Buffer {
  const bytes = Buffer.alloc(endRecordBytes)
  bytes.writeUInt32LE(endMarker, 0)
  writeU64(bytes, 8, end.totalBytes)
  bytes.writeUInt32LE(end.chunks, 16)
  bytes.writeUInt32LE(end.dataCrc, 20)
  bytes.writeUInt32LE(crc32Range(bytes, 8, endRecordBytes), 4)
  return bytes
}

/** A chunk header's first word says whether an end record follows instead of data. */
export function isEndMarker(word: number): boolean {
  return word === endMarker
}

export function decodeEndRecord(bytes: Buffer): EndRecord | string {
  if (bytes.length < endRecordBytes || bytes.readUInt32LE(0) !== endMarker) return 'end record missing'
  if (crc32Range(bytes, 8, endRecordBytes) !== bytes.readUInt32LE(4)) return 'end record checksum mismatch'
  return { totalBytes: readU64(bytes, 8), chunks: bytes.readUInt32LE(16), dataCrc: bytes.readUInt32LE(20) }
}
