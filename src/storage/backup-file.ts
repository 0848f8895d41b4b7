// The backup file that `raftlog snapshot save` writes: a leader's snapshot file, verbatim, with
// what a restore and a reader need around it (the cluster it came from, its configuration), and a
// checksum over the whole. Version 1, little-endian:
//
//   header (32 bytes)  magic "RBAK", version u32, metadata length u32, reserved u32, snapshot
//                      length u64, reserved u32, CRC-32 of bytes 0..27
//   metadata           JSON (BackupMetadata), then its CRC-32 u32
//   snapshot           the node's snapshot file as it was on its disk (snapshot-format.ts)
//   trailer (16 bytes) magic "RBKE", CRC-32 of every byte before the trailer u32, file length u64
//
// Written under FILE.tmp (created exclusively, 0600, no symlink followed), synced, checked whole,
// renamed, and the directory synced: FILE exists only once it is durable and checks out.
// Loads without the native addon (a client writes it).
import { closeSync, fsyncSync, openSync } from 'node:fs'
import { open, rename, rm, stat, type FileHandle } from 'node:fs/promises'
import { dirname } from 'node:path'
import { crc32Range } from './crc32.js'
import { RaftLogError } from '../errors.js'
import { createTemporaryFile, openFlags } from './file-modes.js'
import { readU64, writeU64 } from './segment-format.js'
import { readExactly, SnapshotReader } from './snapshot-reader.js'
import { systemError } from './system-error.js'

export const backupMagic = 'RBAK'
export const backupTrailerMagic = 'RBKE'
export const backupVersion = 1
export const backupHeaderBytes = 32
export const backupTrailerBytes = 16
/** The largest metadata block: a configuration and a few ids (a configuration fits in 4 KiB). */
export const maxBackupMetadataBytes = 1024 * 1024
/** Bytes read at a time when the whole file is checksummed. */
const checkBlockBytes = 1024 * 1024
const temporarySuffix = '.tmp'

/** What a backup says about the snapshot it holds (the metadata JSON). */
export interface BackupMetadata {
  /** Last entry the snapshot covers, and its term. */
  index: number
  term: number
  /** The cluster it was taken from (32 hex digits), and the id that cluster was founded with. */
  clusterId: string
  foundingId: string
  /** The node (the leader) that took it. */
  nodeId: number
  /** The configuration in force at `index`: voters, learners, addresses (Configuration's JSON). */
  configuration: unknown
  /** When the snapshot was saved (ISO 8601). */
  createdAt: string
}

/** A backup file that checked out whole. */
export interface BackupSummary extends BackupMetadata {
  path: string
  /** Bytes of the backup file. */
  sizeBytes: number
  /** Bytes of the state machine's data in it, and the chunks they are cut in. */
  dataBytes: number
  chunks: number
  /** CRC-32 of every byte before the trailer (8 hex digits): what the trailer holds. */
  checksum: string
  /** Where the embedded snapshot lies in the file. */
  snapshotStart: number
  snapshotEnd: number
}

function corrupt(path: string, offset: number, problem: string): RaftLogError {
  return new RaftLogError('ERR_CORRUPT', `Backup ${path} is corrupt at byte ${offset}: ${problem}`, { file: path, offset, problem })
}

/**
 * Header and metadata, as they open the file. `padding` spaces end the metadata's JSON (still the
 * same JSON): etcd's Maintenance.Snapshot pads a backup to the length etcdctl checks for.
 */
export function encodeBackupHead(metadata: BackupMetadata, snapshotBytes: number, padding = 0): Buffer {
  const json = Buffer.from(JSON.stringify(metadata) + ' '.repeat(padding))
  const bytes = Buffer.alloc(backupHeaderBytes + json.length + 4)
  bytes.write(backupMagic, 0, 'ascii')
  bytes.writeUInt32LE(backupVersion, 4)
  bytes.writeUInt32LE(json.length, 8)
  writeU64(bytes, 16, snapshotBytes)
  bytes.writeUInt32LE(crc32Range(bytes, 0, 28), 28)
  json.copy(bytes, backupHeaderBytes)
  bytes.writeUInt32LE(crc32Range(json, 0, json.length), backupHeaderBytes + json.length)
  return bytes
}

/** The trailer that closes a backup of `fileBytes` bytes whose bytes before it have CRC-32 `crc`. */
export function encodeBackupTrailer(crc: number, fileBytes: number): Buffer {
  const bytes = Buffer.alloc(backupTrailerBytes)
  bytes.write(backupTrailerMagic, 0, 'ascii')
  bytes.writeUInt32LE(crc >>> 0, 4)
  writeU64(bytes, 8, fileBytes)
  return bytes
}

/**
 * Writes a backup file: head, then the snapshot's bytes in order, then finish(). Nothing is
 * under `path` until finish() has made the whole durable and checked it.
 */
export class BackupWriter {
  private crc = 0
  private position = 0
  private snapshotWritten = 0
  private done = false

  private constructor(
    readonly path: string,
    private readonly temporaryPath: string,
    private readonly handle: FileHandle,
    private readonly snapshotBytes: number,
  ) {}

  /** Creates `path`.tmp (a leftover one is replaced; `path` itself must not exist: ERR_EXISTS). */
  static async create(path: string, metadata: BackupMetadata, snapshotBytes: number): Promise<BackupWriter> {
    if (await exists(path)) throw new RaftLogError('ERR_EXISTS', `${path} exists already: choose another file name, or remove it first`, { file: path })
    const temporaryPath = path + temporarySuffix
    const handle = await createTemporaryFile(temporaryPath, temporaryPath)
    const writer = new BackupWriter(path, temporaryPath, handle, snapshotBytes)
    await writer.append(encodeBackupHead(metadata, snapshotBytes))
    return writer
  }

  /** The next bytes of the snapshot file. */
  async write(bytes: Uint8Array): Promise<void> {
    if (this.snapshotWritten + bytes.length > this.snapshotBytes) {
      await this.abort()
      throw new RaftLogError('ERR_CORRUPT', `The snapshot for ${this.path} is longer than the ${this.snapshotBytes} bytes it declared`, { file: this.path })
    }
    this.snapshotWritten += bytes.length
    await this.append(bytes)
  }

  /** Ends the file, makes it durable, checks it whole and gives it its name; resolves with what it holds. */
  async finish(): Promise<BackupSummary> {
    if (this.snapshotWritten !== this.snapshotBytes) {
      await this.abort()
      throw new RaftLogError('ERR_CORRUPT', `The snapshot for ${this.path} ended after ${this.snapshotWritten} of the ${this.snapshotBytes} bytes it declared`, { file: this.path })
    }
    const fileBytes = this.position + backupTrailerBytes
    await this.append(encodeBackupTrailer(this.crc, fileBytes))
    let summary: BackupSummary
    try {
      await this.handle.sync()
      await this.handle.close()
      this.done = true
      summary = await checkBackupFile(this.temporaryPath)
      await rename(this.temporaryPath, this.path)
      syncDirectory(dirname(this.path))
    } catch (error) {
      await this.abort()
      throw systemError(error, `Cannot make ${this.path} durable`)
    }
    return { ...summary, path: this.path }
  }

  /** Drops the unfinished file. */
  async abort(): Promise<void> {
    if (!this.done) {
      this.done = true
      await this.handle.close().catch(() => undefined)
    }
    await rm(this.temporaryPath, { force: true })
  }

  private async append(bytes: Uint8Array): Promise<void> {
    try {
      let written = 0
      while (written < bytes.length) {
        const { bytesWritten } = await this.handle.write(bytes, written, bytes.length - written, this.position + written)
        written += bytesWritten
      }
    } catch (error) {
      await this.abort()
      throw systemError(error, `Cannot write ${this.temporaryPath}`)
    }
    this.crc = crc32Range(bytes, 0, bytes.length, this.crc)
    this.position += bytes.length
  }
}

/**
 * Reads a backup file whole and checks every checksum: its header and metadata, each chunk of
 * the snapshot in it, the snapshot's end record, and the trailer's CRC over the whole file.
 * ERR_NOT_BACKUP for a file that is no backup, ERR_CORRUPT naming the file and byte otherwise.
 */
export async function checkBackupFile(path: string): Promise<BackupSummary> {
  const { handle, sizeBytes, metadata, snapshotStart, snapshotEnd } = await openBackup(path)
  let checksum: number
  let dataBytes = 0
  let chunks = 0
  try {
    const reader = await SnapshotReader.open(path, { start: snapshotStart, end: snapshotEnd, label: `Backup ${path}` })
    try {
      if (reader.meta.index !== metadata.index || reader.meta.term !== metadata.term) {
        throw corrupt(path, snapshotStart + 8, `its snapshot holds index ${reader.meta.index} term ${reader.meta.term}, but its metadata says index ${metadata.index} term ${metadata.term}`)
      }
      for await (const _ of reader.chunks()) {
        // Reading is checking.
      }
      ;({ dataBytes, chunks } = reader.totals)
    } finally {
      await reader.close()
    }
    checksum = await wholeChecksum(path, handle, sizeBytes)
  } finally {
    await handle.close()
  }
  return { ...metadata, path, sizeBytes, dataBytes, chunks, checksum: checksum.toString(16).padStart(8, '0'), snapshotStart, snapshotEnd }
}

/** The snapshot inside a backup file, to read its data chunks (checked as they are read). */
export async function readBackupSnapshot(summary: BackupSummary): Promise<SnapshotReader> {
  return SnapshotReader.open(summary.path, { start: summary.snapshotStart, end: summary.snapshotEnd, label: `Backup ${summary.path}` })
}

/** Opens a backup and reads its header and metadata; the caller closes the handle. */
async function openBackup(path: string): Promise<{ handle: FileHandle; sizeBytes: number; metadata: BackupMetadata; snapshotStart: number; snapshotEnd: number }> {
  let handle: FileHandle
  try {
    handle = await open(path, openFlags.read)
  } catch (error) {
    throw systemError(error, `Cannot open backup ${path}`)
  }
  try {
    const stats = await handle.stat()
    if (!stats.isFile()) throw new RaftLogError('ERR_NOT_BACKUP', `${path} is not a raftlog backup file (${stats.isDirectory() ? 'a directory' : 'not a regular file'}): raftlog snapshot save writes them`, { file: path })
    const { size } = stats
    const header = await readExactly(handle, 0, backupHeaderBytes, size)
    // A file that starts as a backup and ends inside its header is one cut short (a copy or a
    // save interrupted), not another kind of file.
    if (header === undefined && size >= 4) {
      const start = await readExactly(handle, 0, 4, size)
      if (start?.toString('ascii') === backupMagic) throw corrupt(path, size, `the file ends inside its ${backupHeaderBytes}-byte header (${size} bytes): cut short`)
    }
    if (header === undefined || header.toString('ascii', 0, 4) !== backupMagic) {
      throw new RaftLogError('ERR_NOT_BACKUP', `${path} is not a raftlog backup file (${header === undefined ? `shorter than a ${backupHeaderBytes}-byte header` : 'no RBAK magic'}): raftlog snapshot save writes them`, { file: path })
    }
    if (crc32Range(header, 0, 28) !== header.readUInt32LE(28)) throw corrupt(path, 0, 'header checksum mismatch')
    const version = header.readUInt32LE(4)
    if (version !== backupVersion) throw new RaftLogError('ERR_UNSUPPORTED_VERSION', `Backup ${path} is of format version ${version}; this raftlog reads version ${backupVersion}`, { file: path, version })
    const metadataLength = header.readUInt32LE(8)
    const snapshotLength = readU64(header, 16)
    if (metadataLength > maxBackupMetadataBytes) throw corrupt(path, 8, `metadata length ${metadataLength} over the limit`)
    const snapshotStart = backupHeaderBytes + metadataLength + 4
    const snapshotEnd = snapshotStart + snapshotLength
    if (snapshotEnd + backupTrailerBytes !== size) throw corrupt(path, size, `${size} bytes long, but its header says ${snapshotEnd + backupTrailerBytes} (cut short, or bytes added)`)
    const json = await readExactly(handle, backupHeaderBytes, metadataLength + 4, size)
    if (json === undefined || crc32Range(json, 0, metadataLength) !== json.readUInt32LE(metadataLength)) throw corrupt(path, backupHeaderBytes, 'metadata checksum mismatch')
    const metadata = parseMetadata(path, json.subarray(0, metadataLength))
    return { handle, sizeBytes: size, metadata, snapshotStart, snapshotEnd }
  } catch (error) {
    await handle.close()
    throw error
  }
}

function parseMetadata(path: string, bytes: Buffer): BackupMetadata {
  let value: Partial<BackupMetadata>
  try {
    value = JSON.parse(bytes.toString('utf8')) as Partial<BackupMetadata>
  } catch {
    throw corrupt(path, backupHeaderBytes, 'metadata is not JSON')
  }
  const whole = (n: unknown): boolean => Number.isSafeInteger(n) && (n as number) >= 0
  if (!whole(value.index) || !whole(value.term) || !whole(value.nodeId) || typeof value.clusterId !== 'string' || typeof value.foundingId !== 'string' || typeof value.createdAt !== 'string' || typeof value.configuration !== 'object' || value.configuration === null) {
    throw corrupt(path, backupHeaderBytes, 'metadata lacks index, term, nodeId, clusterId, foundingId, configuration or createdAt')
  }
  return value as BackupMetadata
}

/** CRC-32 of every byte before the trailer, checked against the trailer. */
async function wholeChecksum(path: string, handle: FileHandle, sizeBytes: number): Promise<number> {
  const end = sizeBytes - backupTrailerBytes
  const block = Buffer.alloc(checkBlockBytes)
  let crc = 0
  for (let at = 0; at < end; ) {
    const { bytesRead } = await handle.read(block, 0, Math.min(checkBlockBytes, end - at), at)
    if (bytesRead === 0) throw corrupt(path, at, 'cut short')
    crc = crc32Range(block, 0, bytesRead, crc)
    at += bytesRead
  }
  const trailer = await readExactly(handle, end, backupTrailerBytes, sizeBytes)
  if (trailer === undefined || trailer.toString('ascii', 0, 4) !== backupTrailerMagic) throw corrupt(path, end, 'trailer missing')
  const trailerSize = readU64(trailer, 8)
  if (trailerSize !== sizeBytes) throw corrupt(path, end + 8, Number.isNaN(trailerSize) ? `the trailer's size field is not a size (the file has ${sizeBytes} bytes)` : `trailer says ${trailerSize} bytes, the file has ${sizeBytes}`)
  if (trailer.readUInt32LE(4) !== crc) throw corrupt(path, end + 4, 'checksum of the whole file mismatch')
  return crc
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw systemError(error, `Cannot look at ${path}`)
  }
}

/** fsync of a directory, so a rename in it survives a crash (node:fs: no addon needed). */
function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}
