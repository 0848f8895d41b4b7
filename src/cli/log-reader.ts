// A read-only view of a log directory for the inspect, verify and dump commands. It maps every
// file copy-on-write, takes no lock a node could wait on and writes nothing: the tools can run
// beside a stopped node's data, or on a copy, without any risk to it.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { RaftLogError } from '../storage/errors.js'
import { isLockHeld, lockFile, mapFileReadOnly, unlockFile, unmap } from '../storage/native.js'
import {
  alignUp,
  checkFrame,
  endOfNonZeroBytes,
  flagResetBase,
  flagSealed,
  framePayloadLength,
  frameTerm,
  frameType,
  headerSizeBytes,
  parseSegmentFileName,
  readHeader,
  readOffsetTable,
  type SegmentHeader,
} from '../storage/segment-format.js'
import { stateFileName } from '../storage/raft-state-file.js'
import { systemError } from '../storage/system-error.js'

export interface FrameInfo {
  index: number
  term: number
  type: number
  offset: number
  length: number
}

export interface Problem {
  file: string
  offset: number
  index: number | undefined
  problem: string
}

export interface SegmentScan {
  file: string
  path: string
  sizeBytes: number
  /** Base index from the file name (the header's when it is readable). */
  baseIndex: number
  header: SegmentHeader | undefined
  sealed: boolean
  resetBase: boolean
  frames: FrameInfo[]
  /** Bytes of header and valid frames. */
  usedBytes: number
  /** Non-zero bytes after the last valid frame of an open segment: what recovery would cut. */
  tailBytes: number
  /** Why the scan of an open segment stopped where it did (the first frame that failed). */
  stopReason: string
  problems: Problem[]
}

/** Refuses what is not a log directory, or one a running node holds; writes nothing. */
export function checkLogDirectory(dir: string): void {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new RaftLogError('ERR_NOT_RAFTLOG', `${dir} is not a directory`, { dir })
  }
  const names = readdirSync(dir)
  if (!names.some((name) => parseSegmentFileName(name) !== undefined || name === stateFileName)) {
    throw new RaftLogError('ERR_NOT_RAFTLOG', `${dir} is not a raftlog directory (no segment files, no ${stateFileName})`, { dir })
  }
  const lockPath = join(dir, 'LOCK')
  // Probe the lock only if the file exists: creating it would be a write.
  if (!existsSync(lockPath)) return
  let fd: number
  try {
    fd = lockFile(lockPath, true)
  } catch (error) {
    if (isLockHeld(error)) throw new RaftLogError('ERR_LOCKED', `${dir} is locked by a running raftlog process`, { dir })
    throw systemError(error, `Cannot check whether a running node holds ${dir}`)
  }
  unlockFile(fd)
}

export function segmentFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => parseSegmentFileName(name) !== undefined)
    .sort((a, b) => (parseSegmentFileName(a) as number) - (parseSegmentFileName(b) as number))
}

/** Reads a whole file through a private mapping (or plainly when it is empty) and hands it to `use`. */
export function withFileBytes<T>(path: string, use: (bytes: Buffer) => T): T {
  if (statSync(path).size === 0) return use(Buffer.alloc(0))
  const mapping = mapFileReadOnly(path)
  try {
    return use(Buffer.from(mapping))
  } finally {
    unmap(mapping)
  }
}

/** Walks every frame of one segment file and notes what is wrong with it. */
export function scanSegment(dir: string, file: string, isLast: boolean): SegmentScan {
  const path = join(dir, file)
  const nameBase = parseSegmentFileName(file) as number
  return withFileBytes(path, (bytes) => {
    const scan: SegmentScan = {
      file,
      path,
      sizeBytes: bytes.length,
      baseIndex: nameBase,
      header: undefined,
      sealed: false,
      resetBase: false,
      frames: [],
      usedBytes: 0,
      tailBytes: 0,
      stopReason: '',
      problems: [],
    }
    const header = readHeader(bytes)
    if (typeof header === 'string') {
      // A last segment whose header never reached the disk holds nothing acknowledged: recovery
      // starts it afresh. A damaged header with frames behind it is a problem.
      const harmless = isLast && (header === 'no header' || (header === 'too small' && typeof checkFrame(bytes, headerSizeBytes, bytes.length, nameBase) !== 'number'))
      if (!harmless) scan.problems.push({ file, offset: 0, index: nameBase, problem: `header ${header}` })
      return scan
    }
    scan.header = header
    scan.sealed = (header.flags & flagSealed) !== 0
    scan.resetBase = (header.flags & flagResetBase) !== 0
    if (header.baseIndex !== nameBase) {
      scan.problems.push({ file, offset: 8, index: nameBase, problem: `header base index ${header.baseIndex} differs from the file name` })
    }
    if (scan.sealed) scanSealed(bytes, scan, header)
    else scanOpen(bytes, scan, header)
    return scan
  })
}

function frameAt(bytes: Buffer, offset: number, index: number): FrameInfo {
  return { index, term: frameTerm(bytes, offset), type: frameType(bytes, offset), offset, length: framePayloadLength(bytes, offset) }
}

function scanOpen(bytes: Buffer, scan: SegmentScan, header: SegmentHeader): void {
  let offset = headerSizeBytes
  let previousTerm = header.prevTerm
  for (;;) {
    const index = header.baseIndex + scan.frames.length
    const size = checkFrame(bytes, offset, bytes.length, index)
    if (typeof size !== 'number') {
      scan.stopReason = size
      break
    }
    const term = frameTerm(bytes, offset)
    if (term < previousTerm) {
      scan.stopReason = `term ${term} is lower than the term before it (${previousTerm})`
      break
    }
    const frame = frameAt(bytes, offset, index)
    previousTerm = frame.term
    scan.frames.push(frame)
    offset += size
  }
  scan.usedBytes = offset
  scan.tailBytes = endOfNonZeroBytes(bytes, offset, bytes.length) - offset
}

function scanSealed(bytes: Buffer, scan: SegmentScan, header: SegmentHeader): void {
  const { file } = scan
  const count = header.entryCount
  const tablePosition = header.offsetTablePosition
  const table = readOffsetTable(bytes, tablePosition, count)
  if (table === undefined) scan.problems.push({ file, offset: tablePosition, index: header.baseIndex, problem: 'offset table checksum mismatch' })
  let offset = headerSizeBytes
  let previousTerm = header.prevTerm
  for (let position = 0; position < count; position++) {
    const index = header.baseIndex + position
    if (table !== undefined && table[position] !== offset) {
      scan.problems.push({ file, offset, index, problem: `offset table says byte ${table[position]}` })
      offset = table[position] as number
    }
    const size = checkFrame(bytes, offset, alignUp(tablePosition, 8), index)
    if (typeof size !== 'number') {
      scan.problems.push({ file, offset, index, problem: size })
      if (table === undefined) break
      offset = (table[position + 1] as number | undefined) ?? tablePosition
      continue
    }
    const frame = frameAt(bytes, offset, index)
    if (frame.term < previousTerm) scan.problems.push({ file, offset, index, problem: `term ${frame.term} is lower than the term before it (${previousTerm})` })
    previousTerm = frame.term
    scan.frames.push(frame)
    offset += size
  }
  if (offset !== tablePosition) scan.problems.push({ file, offset, index: header.baseIndex + count, problem: `frames end at byte ${offset} but the offset table starts at ${tablePosition}` })
  scan.usedBytes = tablePosition
}

/** Checks what one segment's neighbours imply: no gap, no overlap, prevTerm right. */
export function checkNeighbours(previous: SegmentScan, next: SegmentScan): Problem[] {
  const previousEnd = previous.baseIndex + (previous.header?.entryCount !== undefined && previous.sealed ? previous.header.entryCount : previous.frames.length)
  const problems: Problem[] = []
  if (next.baseIndex > previousEnd && !previous.sealed && previous.header !== undefined) {
    // An open segment that stops short of the next one: name the frame where it stops.
    problems.push({ file: previous.file, offset: previous.usedBytes, index: previousEnd, problem: previous.stopReason || 'the frames end here' })
  }
  if (next.baseIndex !== previousEnd) {
    problems.push({
      file: next.file,
      offset: 0,
      index: next.baseIndex,
      problem: next.baseIndex > previousEnd ? `a segment is missing: entries ${previousEnd}..${next.baseIndex - 1} are in no file` : `overlaps ${previous.file}, which ends at index ${previousEnd - 1}`,
    })
    return problems
  }
  const lastTerm = previous.frames.at(-1)?.term ?? previous.header?.prevTerm
  if (next.header !== undefined && lastTerm !== undefined && next.header.prevTerm !== lastTerm) {
    problems.push({ file: next.file, offset: 32, index: next.baseIndex, problem: `previous term ${next.header.prevTerm} differs from the term of index ${next.baseIndex - 1} (${lastTerm})` })
  }
  return problems
}

/** The state file's two slots, if there is a state file. */
export function readStateFile(dir: string): Buffer | undefined {
  const path = join(dir, stateFileName)
  return existsSync(path) ? readFileSync(path) : undefined
}
