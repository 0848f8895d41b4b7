// A read-only view of a log directory for the inspect, verify and dump commands. It maps every
// file copy-on-write, takes no lock a node could wait on and writes nothing: the tools can run
// beside a stopped node's data, or on a copy, without any risk to it.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { RaftLogError } from '../errors.js'
import { isLockHeld, lockFile, mapFileReadOnly, unlockFile, unmap } from '../storage/native.js'
import { frameContextOf, judgeHeader, plainContext, walkOpenSegment, type HeaderVerdict, type OpenSegmentWalk } from '../storage/recovery-rule.js'
import {
  alignUp,
  checkFrame,
  flagResetBase,
  flagSealed,
  framePayloadLength,
  frameTerm,
  frameType,
  headerSizeBytes,
  parseSegmentFileName,
  readOffsetTable,
  type SegmentHeader,
} from '../storage/segment-format.js'
import { stateFileName } from '../storage/raft-state-file.js'
import { parseEngineFileName } from '../engine/engine-format.js'
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
  /** What the recovery rule says of its header. */
  verdict: HeaderVerdict
  header: SegmentHeader | undefined
  sealed: boolean
  resetBase: boolean
  /** The frames readable in index order (for an open segment: up to where recovery ends it). */
  frames: FrameInfo[]
  /** For an open segment: the recovery rule's walk of its frames. */
  walk: OpenSegmentWalk | undefined
  /** Bytes of header and valid frames. */
  usedBytes: number
  /** Non-zero bytes after the last valid frame of an open segment: what recovery would cut. */
  tailBytes: number
  /** Why the frames of an open segment stop where they do. */
  stopReason: string
  /** What is wrong in this file on its own: a damaged header, damaged frames or offset table. */
  problems: Problem[]
}

/**
 * Refuses, writing nothing, what the tools must not read: a missing path, not a directory, a
 * directory without a log's files (`holds` 'log': segments or the state file; 'engine': a log
 * engine's files), or one a running process has locked (ERR_LOCKED).
 */
export function checkLogDirectory(dir: string, holds: 'log' | 'engine' = 'log'): void {
  if (!existsSync(dir)) throw new RaftLogError('ERR_NOT_RAFTLOG', `${dir} does not exist`, { dir })
  if (!statSync(dir).isDirectory()) throw new RaftLogError('ERR_NOT_RAFTLOG', `${dir} is not a directory`, { dir })
  const names = readdirSync(dir)
  const engineFiles = names.some((name) => parseEngineFileName(name) !== undefined)
  if (holds === 'engine' && !engineFiles) throw new RaftLogError('ERR_NOT_RAFTLOG', `${dir} is not a log engine's directory (no engine_*.log files)`, { dir })
  if (holds === 'log' && !names.some((name) => parseSegmentFileName(name) !== undefined || name === stateFileName)) {
    if (engineFiles) {
      throw new RaftLogError('ERR_NOT_RAFTLOG', `${dir} holds a log engine's files (engine_*.log), which raftlog verify, inspect, dump --group and repair read, and this does not`, { dir })
    }
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

/** Walks every frame of one segment file and notes what is wrong with it, by the recovery rule. */
export function scanSegment(dir: string, file: string): SegmentScan {
  const path = join(dir, file)
  const nameBase = parseSegmentFileName(file) as number
  return withFileBytes(path, (bytes) => {
    const verdict = judgeHeader(bytes, nameBase)
    const scan: SegmentScan = {
      file,
      path,
      sizeBytes: bytes.length,
      baseIndex: nameBase,
      verdict,
      header: undefined,
      sealed: false,
      resetBase: false,
      frames: [],
      walk: undefined,
      usedBytes: 0,
      tailBytes: 0,
      stopReason: '',
      problems: [],
    }
    if (verdict.kind === 'damaged') scan.problems.push({ file, offset: 0, index: nameBase, problem: verdict.problem })
    if (verdict.kind !== 'written') return scan
    const { header } = verdict
    scan.header = header
    scan.sealed = (header.flags & flagSealed) !== 0
    scan.resetBase = (header.flags & flagResetBase) !== 0
    if (header.baseIndex !== nameBase) {
      scan.problems.push({ file, offset: 8, index: nameBase, problem: `its header says base index ${header.baseIndex} but its name says ${nameBase}` })
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
  const walk = walkOpenSegment(bytes, header.baseIndex, header.prevTerm, frameContextOf(bytes, header) ?? plainContext(bytes.length))
  for (let position = 0; position < walk.frames; position++) scan.frames.push(frameAt(bytes, walk.offsets[position] as number, header.baseIndex + position))
  scan.walk = walk
  scan.usedBytes = walk.end
  scan.tailBytes = walk.cutBytes
  scan.stopReason = walk.damage?.problem ?? walk.ending
  if (walk.damage !== undefined) scan.problems.push({ file: scan.file, ...walk.damage })
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
    const size = checkFrame(bytes, offset, alignUp(tablePosition, 8), index, header.salt)
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

/** The previous term a segment's header records must be the term of the entry before it. */
export function checkPreviousTerm(previous: SegmentScan, next: SegmentScan): Problem | undefined {
  const lastTerm = previous.frames.at(-1)?.term ?? previous.header?.prevTerm
  if (next.header === undefined || lastTerm === undefined || next.header.prevTerm === lastTerm) return undefined
  return { file: next.file, offset: 32, index: next.baseIndex, problem: `previous term ${next.header.prevTerm} differs from the term of index ${next.baseIndex - 1} (${lastTerm})` }
}

/** The state file's two slots, if there is a state file. */
export function readStateFile(dir: string): Buffer | undefined {
  const path = join(dir, stateFileName)
  return existsSync(path) ? readFileSync(path) : undefined
}
