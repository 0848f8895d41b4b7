// Receives one SaveSnapshot stream from a node (the leader, or one that names it) and writes the
// backup file (storage/backup-file.ts): to a path (FILE.tmp, synced, checked whole, renamed), or
// to a stream the caller gives. Pieces arrive as grpc's flow control lets them: at most one piece
// (1 MiB) is held here at a time.
import type * as grpc from '@grpc/grpc-js'
import { once } from 'node:events'
import { RaftLogError } from '../../errors.js'
import { crc32Range } from '../../storage/crc32.js'
import { backupTrailerBytes, backupTrailerMagic, BackupWriter, encodeBackupHead, type BackupMetadata } from '../../storage/backup-file.js'
import { writeU64 } from '../../storage/segment-format.js'
import { decodeConfiguration, type Configuration } from '../../raft/core/configuration.js'

/** What ClusterClient.saveSnapshot saved. */
export interface SavedSnapshot {
  /** Last entry the snapshot covers, and its term. */
  index: number
  term: number
  /** The cluster it came from, the id it was founded with, and the leader that took it. */
  clusterId: string
  foundingId: string
  nodeId: number
  /** The configuration in force at `index`. */
  configuration: Configuration
  /** Bytes of the backup written. */
  sizeBytes: number
  /** CRC-32 of the backup (every byte before its trailer), 8 hex digits. */
  checksum: string
}

interface Piece {
  notLeader?: { leaderId: number; leaderAddress: string } | null
  index: number
  term: number
  clusterId: string
  foundingId: string
  nodeId: number
  configuration: Buffer
  fileBytes: number
  data: Buffer
}

export type SnapshotStreamStub = grpc.Client & { SaveSnapshot(request: object, options: grpc.CallOptions): grpc.ClientReadableStream<Piece> }

/** Where the backup goes: a file path, or a writable stream. */
export type BackupTarget = string | NodeJS.WritableStream

/** A node that is not the leader answered, naming the leader when it knows it. */
export interface NotLeaderAnswer {
  notLeader: { leaderId: number; leaderAddress: string }
}

/** The stream failed after bytes were written: asking another node cannot undo that. */
export class BackupFailed extends Error {}

/**
 * Calls SaveSnapshot on `stub` and writes what comes to `target`. Resolves with what was saved,
 * or with the node's not-leader answer. `stallMs`: the longest wait for the next piece (the
 * first one comes once the leader has confirmed its leadership and written its snapshot).
 */
export async function receiveSnapshot(stub: SnapshotStreamStub, address: string, target: BackupTarget, stallMs: number): Promise<SavedSnapshot | NotLeaderAnswer> {
  const call = stub.SaveSnapshot({}, {})
  let stalled = false
  let timer: NodeJS.Timeout | undefined
  const armStall = (): void => {
    clearTimeout(timer)
    timer = setTimeout(() => {
      stalled = true
      call.cancel()
    }, stallMs)
  }
  armStall()
  let sink: Sink | undefined
  try {
    for await (const piece of call as AsyncIterable<Piece>) {
      armStall()
      if (sink === undefined) {
        if (piece.notLeader !== null && piece.notLeader !== undefined) return { notLeader: piece.notLeader }
        sink = await Sink.open(target, metadataOf(piece), piece.fileBytes, decodeConfiguration(piece.configuration))
      } else {
        await sink.write(piece.data)
      }
    }
    if (sink === undefined) throw new Error(`${address} ended the stream without a snapshot`)
    return await sink.finish()
  } catch (error) {
    await sink?.abort()
    const failure = stalled ? new RaftLogError('ERR_TIMEOUT', `${address} sent nothing for ${stallMs} ms while saving the snapshot`) : asRaftLogError(error as Error & { code?: number; details?: string })
    throw sink === undefined ? failure : Object.assign(new BackupFailed(failure.message), { cause: failure })
  } finally {
    clearTimeout(timer)
    call.cancel()
  }
}

function metadataOf(piece: Piece): BackupMetadata {
  return {
    index: Number(piece.index),
    term: Number(piece.term),
    clusterId: piece.clusterId,
    foundingId: piece.foundingId,
    nodeId: piece.nodeId,
    configuration: JSON.parse(piece.configuration.toString('utf8')) as unknown,
    createdAt: new Date().toISOString(),
  }
}

/** A node's "CODE: message" answer keeps its code; anything else keeps grpc's status as `grpcCode`. */
function asRaftLogError(error: Error & { code?: number; details?: string }): RaftLogError {
  if (error instanceof RaftLogError) return error
  const details = error.details ?? error.message
  const coded = /^(ERR_[A-Z0-9_]+): ([\s\S]*)$/.exec(details)
  if (coded !== null) return new RaftLogError(coded[1] as string, coded[2] as string)
  return Object.assign(new RaftLogError('ERR_IO', details), { grpcCode: error.code })
}

/** The backup being written: a BackupWriter for a path, the same bytes by hand for a stream. */
class Sink {
  private crc = 0
  private written = 0

  private constructor(
    private readonly metadata: BackupMetadata,
    private readonly configuration: Configuration,
    private readonly fileBytes: number,
    private readonly writer: BackupWriter | undefined,
    private readonly stream: NodeJS.WritableStream | undefined,
  ) {}

  static async open(target: BackupTarget, metadata: BackupMetadata, fileBytes: number, configuration: Configuration): Promise<Sink> {
    if (typeof target === 'string') return new Sink(metadata, configuration, fileBytes, await BackupWriter.create(target, metadata, fileBytes), undefined)
    const sink = new Sink(metadata, configuration, fileBytes, undefined, target)
    await sink.toStream(encodeBackupHead(metadata, fileBytes))
    return sink
  }

  async write(bytes: Uint8Array): Promise<void> {
    if (this.writer !== undefined) return this.writer.write(bytes)
    this.written += bytes.length
    if (this.written > this.fileBytes) throw new RaftLogError('ERR_CORRUPT', `The snapshot is longer than the ${this.fileBytes} bytes it declared`)
    await this.toStream(bytes)
  }

  async finish(): Promise<SavedSnapshot> {
    const saved = { ...this.metadata, configuration: this.configuration }
    if (this.writer !== undefined) {
      const summary = await this.writer.finish()
      return { ...saved, sizeBytes: summary.sizeBytes, checksum: summary.checksum }
    }
    if (this.written !== this.fileBytes) throw new RaftLogError('ERR_CORRUPT', `The snapshot ended after ${this.written} of the ${this.fileBytes} bytes it declared`)
    const checksum = this.crc
    const trailer = Buffer.alloc(backupTrailerBytes)
    trailer.write(backupTrailerMagic, 0, 'ascii')
    trailer.writeUInt32LE(checksum, 4)
    const sizeBytes = this.streamed + backupTrailerBytes
    writeU64(trailer, 8, sizeBytes)
    await this.toStream(trailer, false)
    return { ...saved, sizeBytes, checksum: checksum.toString(16).padStart(8, '0') }
  }

  async abort(): Promise<void> {
    await this.writer?.abort()
  }

  /** Bytes written to the stream so far. */
  private streamed = 0

  /** Writes to the caller's stream, minding its backpressure; every byte but the trailer's is checksummed. */
  private async toStream(bytes: Uint8Array, checksummed = true): Promise<void> {
    const stream = this.stream as NodeJS.WritableStream
    if (checksummed) this.crc = crc32Range(bytes, 0, bytes.length, this.crc)
    this.streamed += bytes.length
    if (!stream.write(bytes)) await once(stream as NodeJS.EventEmitter, 'drain')
  }
}
