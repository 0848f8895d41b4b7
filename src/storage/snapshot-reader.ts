// Reads a snapshot (format in snapshot-format.ts) front to back and checks it as it goes: each
// chunk against its checksum, then the end record against the whole. The snapshot may be a
// whole file (a node's snapshot_<index>.snap) or a byte range of one (the snapshot inside a
// backup file): offsets in errors are always the file's. Loads without the native addon.
import { open, type FileHandle } from 'node:fs/promises'
import { crc32Range } from './crc32.js'
import { RaftLogError } from '../errors.js'
import { openFlags } from './file-modes.js'
import { chunkHeaderBytes, decodeEndRecord, decodeSnapshotHeader, endRecordBytes, isEndMarker, maxChunkBytes, snapshotHeaderBytes } from './snapshot-format.js'
import { systemError } from './system-error.js'

export interface SnapshotMeta {
  /** Index of the last entry the snapshot covers. */
  index: number
  /** Term of that entry. */
  term: number
  /** Opaque to the store (the Raft layer keeps the cluster configuration here). */
  metadata: Uint8Array
}

/** Where a snapshot lies in a file, and what errors call it. */
export interface SnapshotRange {
  /** Byte of the file where the snapshot's header starts. */
  start: number
  /** Byte of the file just after the snapshot's end record. */
  end: number
  /** How errors name the file ("Backup /backups/b.db"); default "Snapshot <file name>". */
  label?: string
}

function corrupt(label: string, path: string, offset: number, problem: string): RaftLogError {
  return new RaftLogError('ERR_CORRUPT', `${label} is corrupt at byte ${offset}: ${problem}`, { file: path, offset, problem })
}

export function snapshotLabel(path: string): string {
  return `Snapshot ${path.slice(path.lastIndexOf('/') + 1)}`
}

/** Reads a snapshot front to back, checking each chunk, then the end record and the whole. */
export class SnapshotReader {
  readonly meta: SnapshotMeta
  private position: number
  private dataBytes = 0
  private chunkCount = 0

  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    private readonly endByte: number,
    private readonly label: string,
    meta: SnapshotMeta,
    dataStart: number,
  ) {
    this.meta = meta
    this.position = dataStart
  }

  /** Opens the snapshot file at `path`, or the snapshot at `range` of it, and checks its header and metadata. */
  static async open(path: string, range?: SnapshotRange): Promise<SnapshotReader> {
    let handle: FileHandle
    try {
      handle = await open(path, openFlags.read)
    } catch (error) {
      throw systemError(error, `Cannot open snapshot ${path}`)
    }
    const label = range?.label ?? snapshotLabel(path)
    try {
      const start = range?.start ?? 0
      const end = range?.end ?? (await handle.stat()).size
      const headerBytes = await readExactly(handle, start, snapshotHeaderBytes, end)
      if (headerBytes === undefined) throw corrupt(label, path, start, `shorter than its ${snapshotHeaderBytes}-byte header`)
      const header = decodeSnapshotHeader(headerBytes)
      if (typeof header === 'string') throw corrupt(label, path, start, header)
      const metadataAt = start + snapshotHeaderBytes
      const metadata = await readExactly(handle, metadataAt, header.metadataLength + 4, end)
      if (metadata === undefined) throw corrupt(label, path, metadataAt, 'metadata cut short')
      if (crc32Range(metadata, 0, header.metadataLength) !== metadata.readUInt32LE(header.metadataLength)) throw corrupt(label, path, metadataAt, 'metadata checksum mismatch')
      const meta = { index: header.index, term: header.term, metadata: new Uint8Array(metadata.subarray(0, header.metadataLength)) }
      return new SnapshotReader(path, handle, end, label, meta, metadataAt + header.metadataLength + 4)
    } catch (error) {
      await handle.close()
      throw error
    }
  }

  /** Data bytes and chunks read so far (the whole, once chunks() is done). */
  get totals(): { dataBytes: number; chunks: number } {
    return { dataBytes: this.dataBytes, chunks: this.chunkCount }
  }

  /** The data chunks in order; throws ERR_CORRUPT at the first bad one, or at a bad end. */
  async *chunks(): AsyncGenerator<Uint8Array> {
    let dataCrc = 0
    let totalBytes = 0
    let chunks = 0
    for (;;) {
      const at = this.position
      const header = await readExactly(this.handle, at, chunkHeaderBytes, this.endByte)
      if (header === undefined) throw corrupt(this.label, this.path, at, 'cut short: no end record')
      const length = header.readUInt32LE(0)
      if (isEndMarker(length)) {
        const record = await readExactly(this.handle, at, endRecordBytes, this.endByte)
        if (record === undefined) throw corrupt(this.label, this.path, at, 'end record cut short')
        const end = decodeEndRecord(record)
        if (typeof end === 'string') throw corrupt(this.label, this.path, at, end)
        if (end.totalBytes !== totalBytes || end.chunks !== chunks || end.dataCrc !== dataCrc) throw corrupt(this.label, this.path, at, 'end record disagrees with the chunks (a chunk is missing)')
        if (at + endRecordBytes !== this.endByte) throw corrupt(this.label, this.path, at + endRecordBytes, `${this.endByte - at - endRecordBytes} bytes after the end record`)
        return
      }
      if (length === 0 || length > maxChunkBytes) throw corrupt(this.label, this.path, at, `chunk length ${length} outside 1..${maxChunkBytes}`)
      const data = await readExactly(this.handle, at + chunkHeaderBytes, length, this.endByte)
      if (data === undefined) throw corrupt(this.label, this.path, at, 'chunk cut short')
      if (crc32Range(data, 0, length) !== header.readUInt32LE(4)) throw corrupt(this.label, this.path, at, 'chunk checksum mismatch')
      dataCrc = crc32Range(data, 0, length, dataCrc)
      totalBytes += length
      chunks++
      this.dataBytes = totalBytes
      this.chunkCount = chunks
      this.position = at + chunkHeaderBytes + length
      yield data
    }
  }

  async close(): Promise<void> {
    await this.handle.close()
  }
}

/** `length` bytes at `offset`, or undefined when the file (or range) ends first at `endByte`. */
export async function readExactly(handle: FileHandle, offset: number, length: number, endByte: number): Promise<Buffer | undefined> {
  if (offset + length > endByte) return undefined
  const bytes = Buffer.alloc(length)
  let read = 0
  while (read < length) {
    const { bytesRead } = await handle.read(bytes, read, length - read, offset + read)
    if (bytesRead === 0) return undefined
    read += bytesRead
  }
  return bytes
}
