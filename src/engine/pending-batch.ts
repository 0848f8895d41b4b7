// The batch frame being built in memory: records of any groups staged since the last write, at
// the file offsets they will have. A flush (or a full frame) writes it with one pwrite; until
// then reads of its records are served from here.
import { RaftLogError } from '../errors.js'
import { batchHeaderSizeBytes, foldRecordCrc, readRecord, recordHeaderSizeBytes, recordPayloadLength, recordSizeBytes, writeBatchHeader, writeRecord, type RecordFields } from './engine-format.js'
import type { ReadRecord } from './engine-file.js'

const initialSizeBytes = 64 * 1024

/** One batch frame in the making: header space, then records; `used` bytes of it so far. */
export class PendingBatch {
  private bytes = Buffer.alloc(initialSizeBytes)
  /** Sequence of the file it goes to; -1 while no frame is begun. */
  file = -1
  /** Byte offset in that file where the frame goes. */
  fileOffset = 0
  /** The frame's batch sequence. */
  sequence = 0
  /** Bytes of the frame so far, header included. */
  used = 0
  private count = 0
  private crcs = 0

  get isEmpty(): boolean {
    return this.count === 0
  }

  /** Starts a frame for file `file` at `fileOffset` with batch sequence `sequence`. */
  begin(file: number, fileOffset: number, sequence: number): void {
    this.file = file
    this.fileOffset = fileOffset
    this.sequence = sequence
    this.used = batchHeaderSizeBytes
    this.count = 0
    this.crcs = 0
  }

  /** Adds a record; returns its byte offset in the file. */
  add(fields: RecordFields, payload: Uint8Array): number {
    const size = recordSizeBytes(payload.length)
    if (this.used + size > this.bytes.length) this.grow(this.used + size)
    const at = this.used
    this.crcs = foldRecordCrc(this.crcs, writeRecord(this.bytes, at, fields, payload))
    this.used += size
    this.count++
    return this.fileOffset + at
  }

  /** Whether the record at `offset` of file `file` is held here. */
  holds(file: number, offset: number): boolean {
    return file === this.file && offset >= this.fileOffset + batchHeaderSizeBytes && offset < this.fileOffset + this.used
  }

  /** The record at file offset `offset`, held here (a copy of its payload). */
  readRecord(offset: number): ReadRecord {
    const at = offset - this.fileOffset
    const length = recordPayloadLength(this.bytes, at)
    return { fields: readRecord(this.bytes, at), payload: new Uint8Array(this.bytes.subarray(at + recordHeaderSizeBytes, at + recordHeaderSizeBytes + length)) }
  }

  /** The whole frame, its header filled in: valid until clear(). */
  finish(): Buffer {
    if (this.count === 0) throw new RaftLogError('ERR_BAD_ARGUMENT', 'PendingBatch.finish: an empty frame is never written')
    writeBatchHeader(this.bytes, 0, this.used - batchHeaderSizeBytes, this.sequence, this.count, this.crcs)
    return this.bytes.subarray(0, this.used)
  }

  /** The frame was written: forget it (zeroing its bytes: records are written over zeros). */
  clear(): void {
    if (this.bytes.length > 4 * initialSizeBytes * 16) this.bytes = Buffer.alloc(initialSizeBytes)
    else this.bytes.fill(0, 0, this.used)
    this.file = -1
    this.used = 0
    this.count = 0
    this.crcs = 0
  }

  private grow(needed: number): void {
    let size = this.bytes.length
    while (size < needed) size *= 2
    const grown = Buffer.alloc(size)
    this.bytes.copy(grown, 0, 0, this.used)
    this.bytes = grown
  }
}
