// SnapshotStore: the snapshot files of one node directory (format in snapshot-format.ts).
//
// A snapshot is written under a temporary name, synced, renamed, and the directory synced: a
// crash leaves the old set of snapshots or the new one, never a half-written file under a real
// name. Reads check every chunk as they go and the whole at the end, so a caller never acts on
// bytes that fail their checksum. The store knows nothing of Raft: index, term and metadata are
// what its caller says they are.
import { closeSync, openSync, readdirSync, readSync, renameSync, rmSync, statSync } from 'node:fs'
import { open, rename, rm, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { crc32Range } from './crc32.js'
import { RaftLogError } from '../errors.js'
import { createTemporaryFile, fileMode, openFlags } from './file-modes.js'
import { fsyncDirectory, fsyncDirectoryAsync } from './native.js'
import {
  decodeSnapshotHeader,
  encodeChunkHeader,
  encodeEndRecord,
  encodeSnapshotHeader,
  maxChunkBytes,
  parseSnapshotFileName,
  snapshotFileName,
  snapshotHeaderBytes,
  type SnapshotHeader,
} from './snapshot-format.js'
import { systemError } from './system-error.js'
import { SnapshotReader, type SnapshotMeta } from './snapshot-reader.js'

export { SnapshotReader, type SnapshotMeta } from './snapshot-reader.js'

/** A snapshot file as its header describes it (not yet checked further). */
export interface SnapshotFile {
  file: string
  path: string
  index: number
  sizeBytes: number
  /** Undefined when the header cannot be read; `problem` says why. */
  header: SnapshotHeader | undefined
  problem?: string
}

const temporarySuffix = '.tmp'
const partialSuffix = '.partial'

/**
 * The snapshot files of one node directory (snapshot_<index>.snap): list, check, read, create
 * (written under a temporary name, visible only once durable), receive from another node
 * (resumable), prune. Leftovers of a crash are removed by open(); inspect() only looks.
 */
export class SnapshotStore {
  readonly dir: string
  /** Files being read by a transfer: prune() leaves them. */
  private readonly pins = new Map<string, number>()

  private constructor(dir: string) {
    this.dir = dir
  }

  /** Opens the snapshots of `dir` (which must exist); removes leftovers of interrupted writes. */
  static open(dir: string): SnapshotStore {
    const store = new SnapshotStore(dir)
    const leftovers = store.leftovers()
    for (const name of leftovers) rmSync(join(dir, name), { force: true })
    if (leftovers.length > 0) fsyncDirectory(dir)
    return store
  }

  /**
   * The snapshots of `dir` for a tool that only looks (inspect, verify): unlike open(), it
   * deletes nothing, so leftovers of interrupted writes stay to be reported.
   */
  static inspect(dir: string): SnapshotStore {
    return new SnapshotStore(dir)
  }

  /** Files an interrupted write (`.snap.tmp`) or transfer (`.snap.partial`) left; never a snapshot. */
  leftovers(): string[] {
    return readdirSync(this.dir)
      .filter((name) => name.startsWith('snapshot_') && (name.endsWith(temporarySuffix) || name.endsWith(partialSuffix)))
      .sort()
  }

  /** Every snapshot file, oldest first, with its header. */
  list(): SnapshotFile[] {
    return readdirSync(this.dir)
      .filter((name) => parseSnapshotFileName(name) !== undefined)
      .sort((a, b) => (parseSnapshotFileName(a) as number) - (parseSnapshotFileName(b) as number))
      .map((name) => describe(join(this.dir, name), name))
  }

  /**
   * The newest snapshot that checks out whole, with the files skipped on the way (newer ones
   * that are torn or corrupt). Undefined when there is none.
   */
  async newestValid(): Promise<{ snapshot: SnapshotFile; meta: SnapshotMeta; skipped: { file: string; problem: string }[] } | undefined> {
    const skipped: { file: string; problem: string }[] = []
    for (const snapshot of this.list().reverse()) {
      try {
        const meta = await this.check(snapshot)
        return { snapshot, meta, skipped }
      } catch (error) {
        if ((error as RaftLogError).code !== 'ERR_CORRUPT') throw error
        skipped.push({ file: snapshot.file, problem: (error as Error).message })
      }
    }
    return undefined
  }

  /** Reads the whole file and checks every checksum; ERR_CORRUPT names the file and byte. */
  async check(snapshot: SnapshotFile): Promise<SnapshotMeta> {
    const reader = await SnapshotReader.open(snapshot.path)
    try {
      for await (const _ of reader.chunks()) {
        // Reading is checking.
      }
      // A file renamed by hand must not pass for the snapshot its name promises.
      if (reader.meta.index !== snapshot.index) throw corrupt(snapshot.path, 8, `its header says index ${reader.meta.index} but its name says ${snapshot.index}`)
      return reader.meta
    } finally {
      await reader.close()
    }
  }

  /** Opens a snapshot for reading its data chunks (checked as they are read). */
  async read(snapshot: SnapshotFile): Promise<SnapshotReader> {
    return SnapshotReader.open(snapshot.path)
  }

  /** Starts a new snapshot; nothing is visible under a real name until finish(). */
  async create(meta: SnapshotMeta): Promise<SnapshotWriter> {
    return SnapshotWriter.create(this.dir, meta)
  }

  /** Receives a snapshot's file bytes from another node, resuming a partial copy of the same snapshot. */
  async receive(index: number, term: number): Promise<SnapshotReceiver> {
    return SnapshotReceiver.open(this.dir, index, term)
  }

  /** Raw bytes of a snapshot file, for sending it to another node. */
  async readBytes(snapshot: SnapshotFile, offset: number, length: number): Promise<Buffer> {
    const handle = await open(snapshot.path, openFlags.read)
    try {
      const bytes = Buffer.alloc(length)
      const { bytesRead } = await handle.read(bytes, 0, length, offset)
      return bytes.subarray(0, bytesRead)
    } finally {
      await handle.close()
    }
  }

  /** Keeps `file` from being pruned until the returned function is called. */
  pin(file: string): () => void {
    this.pins.set(file, (this.pins.get(file) ?? 0) + 1)
    let released = false
    return () => {
      if (released) return
      released = true
      const count = (this.pins.get(file) ?? 1) - 1
      if (count === 0) this.pins.delete(file)
      else this.pins.set(file, count)
    }
  }

  /** Deletes every snapshot but the newest `keep` (and any pinned one); returns the files deleted. */
  prune(keep: number): string[] {
    const all = this.list()
    const doomed = all.slice(0, Math.max(0, all.length - keep)).filter((snapshot) => !this.pins.has(snapshot.file))
    for (const snapshot of doomed) rmSync(snapshot.path, { force: true })
    if (doomed.length > 0) fsyncDirectory(this.dir)
    return doomed.map((snapshot) => snapshot.file)
  }
}

function corrupt(path: string, offset: number, problem: string): RaftLogError {
  const file = path.slice(path.lastIndexOf('/') + 1)
  return new RaftLogError('ERR_CORRUPT', `Snapshot ${file} is corrupt at byte ${offset}: ${problem}`, { file: path, offset, problem })
}

function describe(path: string, file: string): SnapshotFile {
  const index = parseSnapshotFileName(file) as number
  let sizeBytes = 0
  let header: SnapshotHeader | string
  try {
    sizeBytes = statSync(path).size
    const bytes = Buffer.alloc(snapshotHeaderBytes)
    const fd = openSync(path, openFlags.read)
    try {
      readSync(fd, bytes, 0, snapshotHeaderBytes, 0)
    } finally {
      closeSync(fd)
    }
    header = decodeSnapshotHeader(sizeBytes < snapshotHeaderBytes ? bytes.subarray(0, sizeBytes) : bytes)
  } catch (error) {
    throw systemError(error, `Cannot read snapshot ${file}`)
  }
  if (typeof header === 'string') return { file, path, index, sizeBytes, header: undefined, problem: header }
  if (header.index !== index) return { file, path, index, sizeBytes, header: undefined, problem: `its header says index ${header.index} but its name says ${index}` }
  return { file, path, index, sizeBytes, header }
}

/** Writes a new snapshot: chunks of any size in, records of at most maxChunkBytes out. */
export class SnapshotWriter {
  private pending: Buffer = Buffer.allocUnsafe(maxChunkBytes)
  private pendingBytes = 0
  private dataCrc = 0
  private totalBytes = 0
  private chunks = 0
  private done = false

  private constructor(
    private readonly handle: FileHandle,
    private readonly temporaryPath: string,
    readonly path: string,
    private position: number,
  ) {}

  static async create(dir: string, meta: SnapshotMeta): Promise<SnapshotWriter> {
    const path = join(dir, snapshotFileName(meta.index))
    const temporaryPath = path + temporarySuffix
    const handle = await createTemporaryFile(temporaryPath, `snapshot ${temporaryPath}`)
    const writer = new SnapshotWriter(handle, temporaryPath, path, 0)
    const header = encodeSnapshotHeader({ index: meta.index, term: meta.term, metadataLength: meta.metadata.length, createdAtMs: Date.now() })
    const metadataCrc = Buffer.alloc(4)
    metadataCrc.writeUInt32LE(crc32Range(meta.metadata, 0, meta.metadata.length))
    await writer.writeAll([header, meta.metadata, metadataCrc])
    return writer
  }

  /** Appends data; chunk boundaries are the writer's, not the caller's. */
  async write(data: Uint8Array): Promise<void> {
    let offset = 0
    while (offset < data.length) {
      const taken = Math.min(data.length - offset, maxChunkBytes - this.pendingBytes)
      this.pending.set(data.subarray(offset, offset + taken), this.pendingBytes)
      this.pendingBytes += taken
      offset += taken
      if (this.pendingBytes === maxChunkBytes) await this.flushPending()
    }
  }

  /** Ends the file, makes it durable and gives it its real name; returns its size in bytes. */
  async finish(): Promise<number> {
    await this.flushPending()
    await this.writeAll([encodeEndRecord({ totalBytes: this.totalBytes, chunks: this.chunks, dataCrc: this.dataCrc })])
    try {
      await this.handle.sync()
      await this.handle.close()
      this.done = true
      await rename(this.temporaryPath, this.path)
      await fsyncDirectoryAsync(this.path.slice(0, this.path.lastIndexOf('/')))
    } catch (error) {
      await this.abort()
      throw systemError(error, `Cannot make snapshot ${this.path} durable`, 'ERR_IO')
    }
    return this.position
  }

  /** Drops the unfinished file. */
  async abort(): Promise<void> {
    if (!this.done) {
      this.done = true
      await this.handle.close().catch(() => undefined)
    }
    await rm(this.temporaryPath, { force: true })
  }

  private async flushPending(): Promise<void> {
    if (this.pendingBytes === 0) return
    const data = this.pending.subarray(0, this.pendingBytes)
    this.dataCrc = crc32Range(data, 0, data.length, this.dataCrc)
    this.totalBytes += data.length
    this.chunks++
    await this.writeAll([encodeChunkHeader(data), data])
    // A new buffer: the one just written may still be referenced by the write.
    this.pending = Buffer.allocUnsafe(maxChunkBytes)
    this.pendingBytes = 0
  }

  private async writeAll(parts: Uint8Array[]): Promise<void> {
    try {
      for (const part of parts) {
        let written = 0
        while (written < part.length) {
          const { bytesWritten } = await this.handle.write(part, written, part.length - written, this.position + written)
          written += bytesWritten
        }
        this.position += part.length
      }
    } catch (error) {
      await this.abort()
      throw systemError(error, `Cannot write snapshot ${this.temporaryPath}`)
    }
  }
}

/**
 * Receives the bytes of another node's snapshot file, in order, into `<name>.partial`. A
 * partial copy of the same snapshot (index and term) left by a broken transfer is resumed.
 */
export class SnapshotReceiver {
  private constructor(
    private readonly handle: FileHandle,
    private readonly partialPath: string,
    readonly path: string,
    readonly index: number,
    readonly term: number,
    private held: number,
  ) {}

  static async open(dir: string, index: number, term: number): Promise<SnapshotReceiver> {
    const path = join(dir, snapshotFileName(index))
    const partialPath = path + partialSuffix
    let held = 0
    try {
      const existing = describe(partialPath, snapshotFileName(index))
      if (existing.header?.index === index && existing.header.term === term) held = existing.sizeBytes
    } catch {
      held = 0
    }
    let handle: FileHandle
    try {
      if (held === 0) await rm(partialPath, { force: true })
      handle = await open(partialPath, held > 0 ? openFlags.readWrite : openFlags.createNew, fileMode)
    } catch (error) {
      throw systemError(error, `Cannot create ${partialPath}`)
    }
    return new SnapshotReceiver(handle, partialPath, path, index, term, held)
  }

  /** Bytes received so far: the offset the sender must go on from. */
  get heldBytes(): number {
    return this.held
  }

  /** Writes bytes at `offset`, which must be heldBytes (anything else is refused: returns false). */
  async write(offset: number, bytes: Uint8Array): Promise<boolean> {
    if (offset !== this.held) return false
    let written = 0
    try {
      while (written < bytes.length) {
        const { bytesWritten } = await this.handle.write(bytes, written, bytes.length - written, offset + written)
        written += bytesWritten
      }
    } catch (error) {
      throw systemError(error, `Cannot write ${this.partialPath}`)
    }
    this.held += bytes.length
    return true
  }

  /**
   * Everything arrived: checks the whole file, makes it durable and gives it its real name.
   * ERR_CORRUPT when the bytes do not check out (the partial copy is then deleted).
   */
  async finish(): Promise<{ snapshot: SnapshotFile; meta: SnapshotMeta }> {
    try {
      await this.handle.sync()
    } finally {
      await this.handle.close()
    }
    let meta: SnapshotMeta
    try {
      const reader = await SnapshotReader.open(this.partialPath)
      try {
        for await (const _ of reader.chunks()) {
          // Reading is checking.
        }
      } finally {
        await reader.close()
      }
      meta = reader.meta
      if (meta.index !== this.index || meta.term !== this.term) throw corrupt(this.partialPath, 0, `holds index ${meta.index} term ${meta.term}, not ${this.index} term ${this.term}`)
    } catch (error) {
      await rm(this.partialPath, { force: true })
      throw error
    }
    renameSync(this.partialPath, this.path)
    fsyncDirectory(this.path.slice(0, this.path.lastIndexOf('/')))
    return { snapshot: describe(this.path, snapshotFileName(this.index)), meta }
  }

  /** Stops receiving and keeps the partial copy, for a later receive() of the same snapshot to resume. */
  async close(): Promise<void> {
    await this.handle.close()
  }

  /** Stops receiving and deletes the partial copy. */
  async abort(): Promise<void> {
    await this.handle.close().catch(() => undefined)
    await rm(this.partialPath, { force: true })
  }
}
