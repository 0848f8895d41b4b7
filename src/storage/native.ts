// The one module that loads the compiled addon. Everything else in raftlog calls these typed
// wrappers, which check their arguments before crossing into C++. The addon is loaded at the first
// call, not at import (as better-sqlite3 does): a program that only talks to a cluster, or a CLI
// command that never opens a log, runs where no addon was built.
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { packageRoot } from '../package-root.js'
import { RaftLogError } from '../errors.js'

/** madvise hints the addon understands. */
export type Advice = 'normal' | 'sequential' | 'random' | 'willneed' | 'dontneed'

interface NativeAddon {
  map(path: string, size: number, readOnly: boolean): ArrayBuffer
  sync(buffer: ArrayBuffer, offset: number, length: number): void
  syncAsync(buffer: ArrayBuffer, offset: number, length: number): Promise<void>
  advise(buffer: ArrayBuffer, advice: Advice): void
  unmap(buffer: ArrayBuffer): void
  lock(lockPath: string, probe: boolean): number
  unlock(fd: number): void
  fsyncDir(path: string): void
  fsyncDirAsync(path: string): Promise<void>
  allocateAsync(path: string, size: number, written: boolean): Promise<void>
  recycleAsync(path: string, dataEnd: number): Promise<void>
  startWriteback(fd: number, offset: number, length: number): void
  dropCacheAsync(fd: number): Promise<void>
  pageSize(): number
}

const addonPath = join(packageRoot(import.meta.url), 'build', 'Release', 'raftlog_native.node')

function load(): NativeAddon {
  try {
    return createRequire(import.meta.url)(addonPath) as NativeAddon
  } catch (error) {
    throw new RaftLogError(
      'ERR_NATIVE_MISSING',
      `The raftlog native addon could not be loaded from ${addonPath}: in raftlog's own folder run \`npm install\` (or \`npm run build:native\`); in a project that depends on raftlog, \`npm rebuild raftlog\` (its install step builds the addon: an install with --ignore-scripts skipped it)`,
      { path: addonPath },
      { cause: error },
    )
  }
}

let loaded: NativeAddon | undefined

/** The addon, loaded on first use; ERR_NATIVE_MISSING when it was never built. */
function addon(): NativeAddon {
  loaded ??= load()
  return loaded
}

/** The system's page size in bytes; segment sizes are multiples of it. */
export function pageSizeBytes(): number {
  pageSize ??= addon().pageSize()
  return pageSize
}
let pageSize: number | undefined

function checkRange(buffer: ArrayBuffer, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > buffer.byteLength) {
    throw new RaftLogError('ERR_OUT_OF_RANGE', `Sync range ${offset}+${length} is outside the mapping of ${buffer.byteLength} bytes`)
  }
}

/**
 * Maps a file read-write and shared. With `sizeBytes` > 0 the file is created if missing and its
 * blocks are reserved with posix_fallocate (a full disk is ENOSPC here, never SIGBUS later);
 * with 0 the existing file is mapped at its current size.
 */
export function mapFile(path: string, sizeBytes: number): ArrayBuffer {
  return addon().map(path, sizeBytes, false)
}

/** Maps an existing file copy-on-write: writes through the view never reach the file. */
export function mapFileReadOnly(path: string): ArrayBuffer {
  return addon().map(path, 0, true)
}

/** msync(MS_SYNC) of the pages covering [offset, offset + length). */
export function syncRange(buffer: ArrayBuffer, offset: number, length: number): void {
  checkRange(buffer, offset, length)
  addon().sync(buffer, offset, length)
}

/** The same msync on the libuv thread pool, so the event loop keeps running meanwhile. */
export function syncRangeAsync(buffer: ArrayBuffer, offset: number, length: number): Promise<void> {
  checkRange(buffer, offset, length)
  return addon().syncAsync(buffer, offset, length)
}

export function advise(buffer: ArrayBuffer, advice: Advice): void {
  addon().advise(buffer, advice)
}

/**
 * Detaches the ArrayBuffer (every view over it reads as empty from now on) and unmaps the
 * memory once no asynchronous msync still uses it. Calling it twice is harmless.
 */
export function unmap(buffer: ArrayBuffer): void {
  addon().unmap(buffer)
}

/**
 * Takes an exclusive lock on `lockPath` (created if missing); returns the descriptor that holds
 * it. With `probe`, the file must exist and is only opened for reading: for tools that write nothing.
 */
export function lockFile(lockPath: string, probe = false): number {
  return addon().lock(lockPath, probe)
}

export function unlockFile(fd: number): void {
  addon().unlock(fd)
}

/** fsync of a directory: makes created, renamed and deleted entries in it durable. */
export function fsyncDirectory(path: string): void {
  addon().fsyncDir(path)
}

/** The same fsync of a directory on the thread pool. */
export function fsyncDirectoryAsync(path: string): Promise<void> {
  return addon().fsyncDirAsync(path)
}

/**
 * Creates (or empties) a file of `sizeBytes` on the thread pool: with `written`, its blocks are
 * written with zeros and synced; without, only reserved (posix_fallocate, "unwritten" extents).
 */
export function allocateFileAsync(path: string, sizeBytes: number, written = true): Promise<void> {
  return addon().allocateAsync(path, sizeBytes, written)
}

/**
 * Makes a file that compaction freed ready for reuse, on the thread pool: syncs it, then writes
 * its recycle record at `dataEnd` (the CRC-32 of each 512-byte sector before it) and syncs that.
 */
export function recycleFileAsync(path: string, dataEnd: number): Promise<void> {
  if (!Number.isSafeInteger(dataEnd) || dataEnd <= 0 || dataEnd % 512 !== 0) throw new Error(`raftlog invariant failed: recycle data end ${dataEnd}`)
  return addon().recycleAsync(path, dataEnd)
}

/**
 * sync_file_range(SYNC_FILE_RANGE_WRITE): starts writing back [offset, offset + length) of the
 * file open as `fd` and returns without waiting. A hint for speed: only fdatasync makes it durable.
 */
export function startWriteback(fd: number, offset: number, length: number): void {
  addon().startWriteback(fd, offset, length)
}

/**
 * posix_fadvise(POSIX_FADV_DONTNEED) over the whole file open as `fd`, on the thread pool: its
 * clean cached pages are freed (pages mapped into the process stay: advise the mapping 'dontneed'
 * first). A hint: the content is unchanged, and a later read brings pages back from the device.
 * `fd` must stay open until the promise settles.
 */
export function dropCacheAsync(fd: number): Promise<void> {
  return addon().dropCacheAsync(fd)
}

/** True for the errno codes flock uses to say another descriptor holds the lock. */
export function isLockHeld(error: unknown): boolean {
  const code = (error as { code?: unknown }).code
  return code === 'EAGAIN' || code === 'EWOULDBLOCK'
}
