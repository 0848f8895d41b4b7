// One engine file: its mapping (for reads and recovery) and its descriptor (frames reach it with
// pwrite and become durable with fdatasync). Files are never written through the mapping: a file
// changes only by frames appended after its last one, and by recovery zeroing a torn end.
import { renameSync, rmSync, statSync } from 'node:fs'
import { basename, join } from 'node:path'
import { RaftLogError } from '../errors.js'
import { DataFile } from '../storage/data-file.js'
import { fsyncDirectory, mapFile, unmap } from '../storage/native.js'
import { writeZeroFile } from '../storage/segment.js'
import { systemError } from '../storage/system-error.js'
import {
  engineFileName,
  fileHeaderBytes,
  fileHeaderSizeBytes,
  readFileHeader,
  readRecord,
  recordChecksum,
  recordHeaderSizeBytes,
  recordPayloadLength,
  type EngineFileHeader,
  type RecordFields,
} from './engine-format.js'

/** A record read back: its fields and a copy of its payload, safe to keep. */
export interface ReadRecord {
  fields: RecordFields
  payload: Uint8Array
}

/**
 * One engine file of a fixed size. create() makes it durable under its real name at once (zeros,
 * header, fdatasync, rename, directory fsync); open() maps an existing one. Errors: ERR_CORRUPT
 * names the file and byte; system errors keep their errno code.
 */
export class EngineFile {
  readonly sequence: number
  readonly path: string
  /** Sequence of its first batch frame. */
  readonly firstBatch: number
  /** Where the next frame goes. */
  appendPosition = fileHeaderSizeBytes
  private mapping: ArrayBuffer
  private bytes: Buffer
  private readonly data: DataFile

  private constructor(path: string, header: EngineFileHeader, mapping: ArrayBuffer) {
    this.path = path
    this.sequence = header.sequence
    this.firstBatch = header.firstBatch
    this.mapping = mapping
    this.bytes = Buffer.from(mapping)
    this.data = new DataFile(path)
  }

  /**
   * Creates file `sequence` of `sizeBytes` zeros with its header, durable when it returns. With
   * `sparePath`, a file of that size already zero-filled and synced (on the thread pool) is used
   * instead of filling one here.
   */
  static create(dir: string, sequence: number, firstBatch: number, sizeBytes: number, sparePath?: string): EngineFile {
    const path = join(dir, engineFileName(sequence))
    const temporaryPath = sparePath ?? `${path}.tmp`
    try {
      if (sparePath === undefined) writeZeroFile(temporaryPath, sizeBytes)
      const data = new DataFile(temporaryPath)
      try {
        const header = fileHeaderBytes({ sequence, firstBatch })
        data.write(header, header.length, 0)
        data.syncSync()
      } finally {
        data.close()
      }
      renameSync(temporaryPath, path)
      fsyncDirectory(dir)
    } catch (error) {
      rmSync(temporaryPath, { force: true })
      throw systemError(error, `Cannot create engine file ${basename(path)}`)
    }
    return new EngineFile(path, { sequence, firstBatch }, mapWhole(path))
  }

  /** Maps an existing file and checks its header against the sequence its name carries. */
  static open(path: string, sequence: number): EngineFile {
    const size = statSync(path).size
    if (size < fileHeaderSizeBytes) throw corrupt(path, 0, `${size} bytes, shorter than a header`)
    const mapping = mapWhole(path)
    const header = readFileHeader(Buffer.from(mapping))
    if (typeof header === 'string' || header.sequence !== sequence) {
      unmap(mapping)
      const problem = typeof header === 'string' ? header : `header names file ${header.sequence}`
      throw new RaftLogError(problem.startsWith('unsupported version') ? 'ERR_UNSUPPORTED_VERSION' : 'ERR_CORRUPT', `Engine file ${basename(path)} is corrupt at byte 0: ${problem}`, {
        file: path,
        offset: 0,
        problem,
      })
    }
    return new EngineFile(path, header, mapping)
  }

  get fileName(): string {
    return basename(this.path)
  }

  get sizeBytes(): number {
    return this.bytes.length
  }

  /** The file's bytes as mapped (reads only). */
  get view(): Buffer {
    return this.bytes
  }

  /** Bytes left for frames. */
  get freeBytes(): number {
    return this.bytes.length - this.appendPosition
  }

  /** pwrite of bytes[0..length) at `position`; not durable until a sync. */
  write(bytes: Uint8Array, length: number, position: number): void {
    this.data.write(bytes, length, position)
  }

  syncSync(): void {
    this.data.syncSync()
  }

  syncAsync(): Promise<void> {
    return this.data.syncAsync()
  }

  /** Zeroes [from, to) and syncs it: a torn end cut by recovery, before anything is appended. */
  zero(from: number, to: number): void {
    if (to <= from) return
    this.data.write(Buffer.alloc(to - from), to - from, from)
    this.data.syncSync()
  }

  /** The record at `offset`, checked against its CRC (ERR_CORRUPT otherwise). */
  readRecord(offset: number): ReadRecord {
    const bytes = this.bytes
    if (offset + recordHeaderSizeBytes > bytes.length) throw corrupt(this.path, offset, 'record past the end of the file')
    const length = recordPayloadLength(bytes, offset)
    const end = offset + recordHeaderSizeBytes + length
    if (end > bytes.length || recordChecksum(bytes, offset, length) !== bytes.readUInt32LE(offset + 4)) {
      throw corrupt(this.path, offset, 'record checksum mismatch')
    }
    return { fields: readRecord(bytes, offset), payload: new Uint8Array(bytes.subarray(offset + recordHeaderSizeBytes, end)) }
  }

  /** Unmaps (every view reads empty after) and closes the descriptor. */
  close(): void {
    unmap(this.mapping)
    this.data.close()
  }

  /** Closes and deletes the file; the caller syncs the directory. */
  delete(): void {
    this.close()
    rmSync(this.path, { force: true })
  }
}

function mapWhole(path: string): ArrayBuffer {
  try {
    return mapFile(path, 0)
  } catch (error) {
    throw systemError(error, `Cannot map engine file ${basename(path)}`)
  }
}

/** ERR_CORRUPT naming the engine file and byte. */
export function corrupt(path: string, offset: number, problem: string): RaftLogError {
  return new RaftLogError('ERR_CORRUPT', `Engine file ${basename(path)} is corrupt at byte ${offset}: ${problem}`, { file: path, offset, problem })
}
