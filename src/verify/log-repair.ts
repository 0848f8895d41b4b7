// `raftlog repair`: the only way raftlog drops data that may have been acknowledged, and only when
// the user asks. It cuts the log at its first problem (the earliest damage by file and byte, as
// `verify` finds it), after copying every file it will change into a backup folder. What stays is
// a log that opens and verifies clean: every entry before the damage, nothing after it.
import { copyFileSync, closeSync, constants, fsyncSync, mkdirSync, openSync, rmSync, statSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { fsyncDirectory, mapFile, pageSizeBytes, syncRange, unmap } from '../storage/native.js'
import { Segment } from '../storage/segment.js'
import {
  defaultSegmentSizeBytes,
  endOfNonZeroBytes,
  flagRecycled,
  firstNonZeroByte,
  frameChecksum,
  frameHeaderSizeBytes,
  frameSizeBytes,
  headerSizeBytes,
  maxSegmentSizeBytes,
  openHeader,
  readU64,
  recycledDataEnd,
  writeHeader,
} from '../storage/segment-format.js'
import type { LogCheck } from './log-check.js'
import { withFileBytes, type Problem, type SegmentScan } from './log-reader.js'

/** One file repair changes, and what of the log goes with it. */
export type Change =
  /** Frames from `offset` on are cut (zeroed); a sealed segment is opened again first. */
  | { kind: 'cut'; file: string; offset: number; keptFrames: number; frames: number; bytes: number; reopen: boolean }
  | { kind: 'delete'; file: string; frames: number; bytes: number }
  /** The first segment's header is damaged: an empty segment at its base index takes its place. */
  | { kind: 'replace'; file: string; baseIndex: number; frames: number; bytes: number }

export interface Repair {
  /** The problem it cuts at. */
  problem: Problem
  /** The first index the log no longer holds; undefined when no entry is lost (a damaged offset table). */
  firstLostIndex: number | undefined
  /** In the order they are made: later files deleted newest first, then the cut. */
  changes: Change[]
}

/** What repair would do for this check of the log; undefined when it finds no segment problem. */
export function planRepair(log: LogCheck): Repair | undefined {
  const problem = log.problems.find((candidate) => log.scans.some((scan) => scan.file === candidate.file))
  if (problem === undefined) return undefined
  const position = log.scans.findIndex((scan) => scan.file === problem.file)
  const scan = log.scans[position] as SegmentScan
  const later = log.scans.slice(position + 1).reverse()
  const deleteLater = later.map((other): Change => ({ kind: 'delete', file: other.file, frames: framesFrom(other, headerSizeBytes), bytes: other.sizeBytes }))
  if (scan.header === undefined || problem.offset < headerSizeBytes) {
    // The header (or the segment's place in the log) is wrong: the whole file goes.
    const frames = framesFrom(scan, headerSizeBytes)
    const whole: Change =
      position === 0
        ? { kind: 'replace', file: scan.file, baseIndex: scan.baseIndex, frames, bytes: scan.sizeBytes }
        : { kind: 'delete', file: scan.file, frames, bytes: scan.sizeBytes }
    return { problem, firstLostIndex: problem.index ?? scan.baseIndex, changes: [...deleteLater, whole] }
  }
  // Frames before the damage stay; they are valid and in order (it is the first problem in the file).
  const kept = scan.frames.filter((frame) => frame.offset < problem.offset)
  const lastKept = kept.at(-1)
  const offset = lastKept === undefined ? headerSizeBytes : lastKept.offset + frameSizeBytes(lastKept.length)
  const frames = framesFrom(scan, offset)
  const recycled = (scan.header?.salt ?? 0) !== 0 && ((scan.header?.flags ?? 0) & flagRecycled) !== 0
  const bytes = withFileBytes(scan.path, (content) => endOfNonZeroBytes(content, offset, recycled ? recycledDataEnd(content.length) : content.length) - offset)
  const cut: Change = { kind: 'cut', file: scan.file, offset, keptFrames: kept.length, frames, bytes, reopen: scan.sealed }
  // A damaged offset table over valid frames loses no entry: the later segments stay, and open()
  // seals the reopened segment again, with a new table.
  if (scan.sealed && kept.length === scan.header.entryCount) return { problem, firstLostIndex: undefined, changes: [{ ...cut, frames: 0 }] }
  return { problem, firstLostIndex: scan.baseIndex + kept.length, changes: [...deleteLater, cut] }
}

/**
 * Frames in a segment file from `offset` on (a sealed segment's header count when the whole file
 * goes): the one there, damaged or not, then each next one whose checksum holds. What a cut drops.
 */
function framesFrom(scan: SegmentScan, offset: number): number {
  if (offset === headerSizeBytes && scan.sealed && scan.header !== undefined) return scan.header.entryCount
  return withFileBytes(scan.path, (bytes) => {
    const salt = scan.header?.salt ?? 0
    const recycled = salt !== 0 && ((scan.header?.flags ?? 0) & flagRecycled) !== 0
    const limit = scan.sealed && scan.header !== undefined ? scan.header.offsetTablePosition : recycled ? recycledDataEnd(bytes.length) : bytes.length
    let frames = 0
    for (let at = offset; at + frameHeaderSizeBytes <= limit; frames++) {
      if (firstNonZeroByte(bytes, at, at + frameHeaderSizeBytes) === -1) break
      const length = bytes.readUInt32LE(at)
      if (at + frameSizeBytes(length) > limit) break
      if (frames > 0 && frameChecksum(bytes, at, length) !== bytes.readUInt32LE(at + 4)) break
      // A recycled file's old frames (another salt) are no frames of this segment.
      if (frames > 0 && recycled && bytes.readUInt32LE(at + 28) !== salt) break
      at += frameSizeBytes(length)
    }
    return frames
  })
}

/** The backup folder a tool that changes DIR at `now` makes: DIR/../<name>.<kind>-<time>. */
export function backupFolderName(dir: string, kind: string, now: Date): string {
  const absolute = resolve(dir)
  return join(dirname(absolute), `${basename(absolute)}.${kind}-${now.toISOString().replace(/[:.]/g, '-')}`)
}

/**
 * Copies `files` of DIR, the ones a repair (or another `kind` of change) changes, into a new
 * folder beside DIR (backupFolderName), each synced, and the folder's entry too, before anything
 * in DIR is touched. Returns its path.
 */
export function backUp(dir: string, files: string[], now = new Date(), kind = 'repair'): string {
  const first = backupFolderName(dir, kind, now)
  let backup = first
  for (let attempt = 2; ; attempt++) {
    try {
      mkdirSync(backup)
      break
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 100) throw error
      backup = `${first}-${attempt}`
    }
  }
  for (const file of files) {
    const copy = join(backup, file)
    copyFileSync(join(dir, file), copy, constants.COPYFILE_EXCL)
    const fd = openSync(copy, 'r')
    try {
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
  }
  fsyncDirectory(backup)
  fsyncDirectory(dirname(backup))
  return backup
}

/** Makes the changes, each durable before the next: a crash part way leaves a log repair can finish. */
export function applyRepair(dir: string, repair: Repair): void {
  for (const change of repair.changes) {
    const path = join(dir, change.file)
    if (change.kind === 'delete') {
      rmSync(path, { force: true })
      fsyncDirectory(dir)
    } else if (change.kind === 'replace') {
      const size = statSync(path).size
      const sizeBytes = size >= pageSizeBytes() && size % pageSizeBytes() === 0 && size <= maxSegmentSizeBytes ? size : defaultSegmentSizeBytes
      // The term before it is unknown: 0. create() writes the new file whole, then renames it over the old.
      Segment.create(dir, change.baseIndex, 0, sizeBytes).close()
    } else {
      cutSegment(path, change)
    }
  }
}

/** Zeroes a segment from `offset` on; a sealed one gets an open header first. */
function cutSegment(path: string, cut: Change & { kind: 'cut' }): void {
  const mapping = mapFile(path, 0)
  try {
    const bytes = Buffer.from(mapping)
    const version = bytes.readUInt32LE(4)
    const salt = version >= 2 ? bytes.readUInt32LE(56) : 0
    const flags = bytes.readUInt32LE(48)
    if (cut.reopen) {
      // Open first: a sealed header over zeroed frames would read as damage.
      writeHeader(bytes, openHeader(readU64(bytes, 8), readU64(bytes, 32), flags, salt))
      syncRange(mapping, 0, headerSizeBytes)
    }
    // A recycled file keeps its recycle record (after its frames): zeros before it read as zeros do anywhere.
    const limit = salt !== 0 && (flags & flagRecycled) !== 0 ? recycledDataEnd(bytes.length) : bytes.length
    const end = endOfNonZeroBytes(bytes, cut.offset, limit)
    bytes.fill(0, cut.offset, end)
    if (end > cut.offset) syncRange(mapping, cut.offset, end - cut.offset)
  } finally {
    unmap(mapping)
  }
}

