// Cases only raftlog has: open time of a large closed log and of one whose open segment was cut
// by a crash, truncateAfter and compact, and the memory its index takes per entry.
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { RaftLog } from '../src/storage/raft-log.js'
import { collectGarbage } from './collect-garbage.js'
import { median } from './stats.js'

export interface RaftlogOnlyResults {
  logBytes: number
  segments: number
  openCleanMs: number
  openAfterCrashMs: number
  cutBytesAfterCrash: number
  truncateAfterMs: number
  compactMs: number
  indexEntries: number
  indexBytesPerEntry: number
  /** p50 of appending one 100 B entry and making it durable, with flushSync() and with flush(). */
  flushSyncP50Ms: number
  flushAsyncP50Ms: number
  /**
   * Steady state, as a node with snapshots runs: 1 KiB entries in durable batches of 1,024 through
   * logBytes of segments of steadySegmentBytes, compacted behind to the last two segments. Entries
   * per second, and bytes the process sent to the device per byte appended (/proc/self/io).
   */
  steadySegmentBytes?: number
  steadyEntriesPerSecond?: number
  steadyWriteAmplification?: number
}

const silent = { warn() {} }

function fillLog(dir: string, totalBytes: number, payloadBytes: number): void {
  const log = RaftLog.open(dir, { logger: silent })
  const data = new Uint8Array(payloadBytes).fill(9)
  const batch = Array.from({ length: 1024 }, () => ({ term: 1, data }))
  const entries = Math.ceil(totalBytes / (payloadBytes + 32))
  while (log.lastIndex < entries) log.append(batch)
  log.close()
}

function timeOpen(dir: string, times: number): { ms: number; cutBytes: number } {
  const samples: number[] = []
  let cutBytes = 0
  for (let i = 0; i < times; i++) {
    const started = performance.now()
    const log = RaftLog.open(dir, { logger: silent })
    samples.push(performance.now() - started)
    cutBytes += log.recovery.cutBytes
    log.close()
  }
  return { ms: median(samples), cutBytes }
}

/**
 * What a power loss leaves when the last MiB of the open segment was written back but for one
 * sector (pages go back in any order): recovery cuts from the torn frame on, about 1 MiB.
 */
function tearOpenSegment(dir: string): void {
  const last = readdirSync(dir).filter((name) => name.startsWith('segment_') && name.endsWith('.log')).sort().at(-1) as string
  const log = RaftLog.open(dir, { logger: silent })
  const used = log.describeSegments().at(-1)?.usedBytes ?? 64
  log.close()
  const sector = Math.max(512, Math.floor((used - 1024 * 1024) / 512) * 512)
  const fd = openSync(join(dir, last), 'r+')
  writeSync(fd, Buffer.alloc(512), 0, 512, sector)
  closeSync(fd)
}

function timeTruncateAndCompact(dir: string): { truncateAfterMs: number; compactMs: number } {
  const log = RaftLog.open(dir, { logger: silent })
  const truncations: number[] = []
  const step = Math.min(1000, Math.floor(log.lastIndex / 40))
  for (let i = 0; i < 20; i++) {
    const started = performance.now()
    log.truncateAfter(log.lastIndex - step)
    truncations.push(performance.now() - started)
  }
  const segments = log.describeSegments()
  const compactions: number[] = []
  for (const segment of segments.slice(0, Math.min(5, segments.length - 1))) {
    const started = performance.now()
    log.compact(segment.baseIndex + segment.entryCount - 1)
    compactions.push(performance.now() - started)
  }
  log.close()
  return { truncateAfterMs: median(truncations), compactMs: median(compactions) }
}

/** Resident bytes per entry held by the index once every segment's offsets are loaded. */
function indexMemory(dir: string, entries: number): number {
  const log = RaftLog.open(dir, { logger: silent })
  const data = new Uint8Array(16)
  const batch = Array.from({ length: 4096 }, () => ({ term: 1, data }))
  while (log.lastIndex < entries) log.append(batch)
  log.close()
  collectGarbage()
  const before = process.memoryUsage()
  const reopened = RaftLog.open(dir, { logger: silent })
  for (const segment of reopened.describeSegments()) if (segment.entryCount > 0) reopened.termAt(segment.baseIndex)
  collectGarbage()
  const after = process.memoryUsage()
  const bytes = after.arrayBuffers - before.arrayBuffers + Math.max(0, after.heapUsed - before.heapUsed)
  const count = reopened.lastIndex
  reopened.close()
  return bytes / count
}

/** flush() runs fdatasync on the thread pool; what that round trip adds to one small durable append. */
async function flushLatency(dir: string, repeats: number): Promise<{ flushSyncP50Ms: number; flushAsyncP50Ms: number }> {
  const log = RaftLog.open(dir, { logger: silent })
  const entry = [{ term: 1, data: new Uint8Array(100) }]
  const synchronous: number[] = []
  const asynchronous: number[] = []
  // Interleaved, so drift in the disk's speed hits both alike.
  for (let i = 0; i < repeats; i++) {
    let started = performance.now()
    log.append(entry)
    log.flushSync()
    synchronous.push(performance.now() - started)
    started = performance.now()
    log.append(entry)
    await log.flush()
    asynchronous.push(performance.now() - started)
  }
  log.close()
  return { flushSyncP50Ms: median(synchronous), flushAsyncP50Ms: median(asynchronous) }
}

/** Bytes this process has caused to be sent to the storage layer (/proc/self/io write_bytes). */
function deviceWriteBytes(): number {
  const match = /^write_bytes: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'))
  return match === null ? Number.NaN : Number(match[1])
}

async function steadyState(dir: string, totalBytes: number, segmentBytes: number): Promise<{ entriesPerSecond: number; writeAmplification: number }> {
  // The default number of recycled segments (RaftLogOptions.recycledSegments), said here: this case measures them.
  const log = RaftLog.open(dir, { segmentSize: segmentBytes, logger: silent, recycledSegments: 2 })
  const data = new Uint8Array(1024).fill(7)
  const batch = Array.from({ length: 1024 }, () => ({ term: 1, data }))
  const batches = Math.ceil(totalBytes / (1024 * 1024))
  const compact = (): void => {
    const segments = log.describeSegments()
    const keepFrom = segments.at(-2)
    if (segments.length > 2 && keepFrom !== undefined) log.compact(keepFrom.baseIndex - 1)
  }
  // One pass through a few segments first: the steady state reuses files compaction freed.
  for (let i = 0; i < Math.ceil((3 * segmentBytes) / (1024 * 1024)); i++) {
    log.append(batch)
    await log.flush()
    compact()
  }
  const written = deviceWriteBytes()
  const started = performance.now()
  for (let i = 0; i < batches; i++) {
    log.append(batch)
    await log.flush()
    compact()
  }
  const seconds = (performance.now() - started) / 1000
  const writeAmplification = (deviceWriteBytes() - written) / (batches * 1024 * 1024)
  log.close()
  return { entriesPerSecond: (batches * 1024) / seconds, writeAmplification }
}

export interface RaftlogOnlySizes {
  logBytes: number
  indexEntries: number
  openRepeats: number
  flushRepeats: number
}

export async function runRaftlogOnly(workDir: string, sizes: RaftlogOnlySizes): Promise<RaftlogOnlyResults> {
  const root = mkdtempSync(join(workDir, 'raftlog-only-'))
  try {
    const { logBytes, indexEntries, openRepeats, flushRepeats } = sizes
    const dir = join(root, 'big')
    fillLog(dir, logBytes, 1024)
    const segments = readdirSync(dir).filter((name) => name.startsWith('segment_')).length
    const clean = timeOpen(dir, openRepeats)
    tearOpenSegment(dir)
    const crashed = timeOpen(dir, 1)
    const { truncateAfterMs, compactMs } = timeTruncateAndCompact(dir)
    rmSync(dir, { recursive: true, force: true })
    const indexBytesPerEntry = indexMemory(join(root, 'index'), indexEntries)
    const { flushSyncP50Ms, flushAsyncP50Ms } = await flushLatency(join(root, 'flush'), flushRepeats)
    const steadySegmentBytes = Math.min(64 * 2 ** 20, Math.max(256 * 1024, logBytes / 16))
    const steady = await steadyState(join(root, 'steady'), logBytes, steadySegmentBytes)
    return {
      steadySegmentBytes,
      steadyEntriesPerSecond: steady.entriesPerSecond,
      steadyWriteAmplification: steady.writeAmplification,
      logBytes,
      segments,
      openCleanMs: clean.ms,
      openAfterCrashMs: crashed.ms,
      cutBytesAfterCrash: crashed.cutBytes,
      truncateAfterMs,
      compactMs,
      indexEntries,
      indexBytesPerEntry,
      flushSyncP50Ms,
      flushAsyncP50Ms,
    }
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
}
