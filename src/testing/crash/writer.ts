// The crash-test writer: a child process that appends, flushes, truncates and compacts in a loop
// and tells the parent, line by line on stdout, what it is about to do and what is durable. The
// parent kills it (or it kills itself at a chosen point inside an operation) and checks the log.
//
// Protocol, one line each:
//   O <first> <last> <lastTerm>   opened                 D <file> <bytes>   durable boundary
//   W <first> <last> <term>       about to append        A <last> <term>    flushed through <last>
//   T? <index> / T <index>        truncateAfter starts / returned
//   C? <upTo> / C <firstIndex>    compact starts / returned
import fs from 'node:fs'
import { syncBuiltinESMExports } from 'node:module'
import { RaftLog } from '../../storage/raft-log.js'
import { entryPayload, prng, type SizeRange } from './payload.js'
import { sayLine } from './protocol-line.js'
import { priorDirName } from './power-loss.js'
import { basename, join } from 'node:path'

/**
 * Who kills the writer. inside: the writer itself, at a point the seed picks, between calls or
 * inside truncateAfter, compact or a rotation. outside: the parent, after a delay the seed picks,
 * while the writer appends at full speed (one append() call per entry, flushSync() after each
 * batch, now and then an awaited flush()): the kill lands anywhere, inside a frame's stores or a
 * seal too, as a kill -9 from an operator does.
 */
export type Killer = 'inside' | 'outside'

/** Where the writer kills itself, inside an operation, to test its crash safety. */
export type CrashPoint = 'none' | 'truncate' | 'compact' | 'rotation'

/**
 * Where in an append the writer kills itself in a plain kill or power-loss round: after the
 * append (nothing flushed), while the flush's fdatasync runs on the thread pool, or after the flush
 * resolved but before the parent heard of it. Chosen by the round's seed, so a seed replays.
 */
export type KillStep = 'after-append' | 'during-flush' | 'before-acknowledge'

export interface WriterConfig {
  dir: string
  /** Seed of the payloads: fixed for the whole test, since entries outlive rounds. */
  payloadSeed: number
  /** Seed of this round's choices. */
  roundSeed: number
  segmentSize: number
  /** RaftLogOptions.recycledSegments (default: RaftLog's). */
  recycledSegments?: number
  entrySize: SizeRange
  batch: number
  crashPoint: CrashPoint
  /** The operation at which a crash point is armed (once the log has segments to work on). */
  crashPointAt: number
  /** The writer kills itself in the first append from this operation on (after a crash point that did not fire). */
  killAtOperation: number
  killStep: KillStep
  /** Who kills the writer (default inside); from outside, crashPoint and the kill fields are unused. */
  killer?: Killer
  /** A deliberately wrong writer, to prove the checker catches one: acknowledges an entry it never wrote. */
  broken?: boolean
}

/** Each line is out of the process before the next step runs (protocol-line.ts). */
const say = sayLine

/** Makes the next `countdown`-th call of fs[name] kill the process (before or after the call). */
function armFailpoint(name: 'rmSync' | 'renameSync', countdown: number, after: boolean): void {
  const original = fs[name] as (...args: unknown[]) => unknown
  let calls = 0
  ;(fs as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
    calls++
    if (calls === countdown && !after) process.kill(process.pid, 'SIGKILL')
    const result = original(...args)
    if (calls === countdown && after) process.kill(process.pid, 'SIGKILL')
    return result
  }
  // Storage modules import { rmSync } from 'node:fs': make their live bindings see the wrapper.
  syncBuiltinESMExports()
}

function boundary(log: RaftLog): void {
  const tail = log.describeSegments().at(-1)
  if (tail !== undefined) say(`D ${tail.file} ${tail.usedBytes}`)
}

/**
 * Power-loss rounds need what a recycled file held before its rotation renamed it in (a sector
 * never written back reads as that, not zeros): each such rename copies the file aside first.
 */
function keepPriorContent(dir: string): void {
  const prior = join(dir, priorDirName)
  fs.mkdirSync(prior, { recursive: true, mode: 0o700 })
  const original = fs.renameSync
  ;(fs as unknown as Record<string, unknown>).renameSync = (from: fs.PathLike, to: fs.PathLike) => {
    if (basename(String(from)).startsWith('recycled-') && basename(String(to)).startsWith('segment_')) fs.copyFileSync(from, join(prior, basename(String(to))))
    original(from, to)
  }
  syncBuiltinESMExports()
}

async function run(config: WriterConfig): Promise<void> {
  keepPriorContent(config.dir)
  const random = prng(config.roundSeed)
  const log = RaftLog.open(config.dir, { segmentSize: config.segmentSize, recycledSegments: config.recycledSegments, logger: { warn() {} } })
  say(`O ${log.firstIndex} ${log.lastIndex} ${log.lastTerm}`)
  boundary(log)
  let term = Math.max(1, log.lastTerm)
  let operations = 0
  for (;;) {
    operations++
    const choice = random()
    // A crash point is armed once the log has a few segments to delete or rotate through.
    const armNow = config.crashPoint !== 'none' && operations === config.crashPointAt
    if ((choice < 0.06 || (armNow && config.crashPoint === 'truncate')) && log.lastIndex > log.firstIndex) {
      const span = log.lastIndex - log.firstIndex
      const back = armNow ? Math.ceil(span * (0.3 + 0.6 * random())) : 1 + Math.floor(random() * Math.min(span, config.batch * 2))
      const index = log.lastIndex - back
      if (armNow) armFailpoint('rmSync', 1 + Math.floor(random() * 3), random() < 0.5)
      say(`T? ${index}`)
      log.truncateAfter(index)
      term++ // a new leader overwrites the truncated suffix in a later term
      say(`T ${index}`)
      boundary(log)
      continue
    }
    if (choice < 0.1 || (armNow && config.crashPoint === 'compact')) {
      const span = log.lastIndex - log.firstIndex
      const upTo = log.firstIndex + Math.floor(span * (armNow ? 0.9 : random() * 0.5))
      if (armNow) armFailpoint('rmSync', 1 + Math.floor(random() * 3), random() < 0.5)
      say(`C? ${upTo}`)
      log.compact(upTo)
      // Which file the next rotation takes (a recycled one, or a new one) must not depend on timing.
      if (config.killer !== 'outside') await log.recyclingSettled()
      say(`C ${log.firstIndex}`)
      boundary(log)
      continue
    }
    if (armNow && config.crashPoint === 'rotation') armFailpoint('renameSync', 1, random() < 0.5)
    if (random() < 0.05) term++
    const count = 1 + Math.floor(random() * config.batch)
    if (config.killer === 'outside') {
      await appendAtFullSpeed(log, config, count, term, random)
      continue
    }
    const first = log.lastIndex + 1
    const killStep = operations >= config.killAtOperation ? config.killStep : undefined
    say(`W ${first} ${first + count - 1} ${term}`)
    log.append(
      Array.from({ length: count }, (_, i) => ({ term, data: entryPayload(config.payloadSeed, first + i, term, config.entrySize) })),
    )
    if (killStep === 'after-append') process.kill(process.pid, 'SIGKILL')
    const flushed = log.flush()
    if (killStep === 'during-flush') process.kill(process.pid, 'SIGKILL')
    await flushed
    // Boundary first: a kill between the two lines then leaves the parent with a boundary at
    // least as new as the acknowledgement, never an acknowledgement past its boundary.
    boundary(log)
    if (killStep === 'before-acknowledge') process.kill(process.pid, 'SIGKILL')
    say(`A ${log.lastIndex + (config.broken === true ? config.batch + 5 : 0)} ${term}`)
  }
}

/**
 * One append() call per entry, as fast as the loop goes, then a flush: flushSync() mostly, an
 * awaited flush() one time in eight (its fdatasync on the thread pool, its seals after it). The parent
 * kills the process from outside at any moment of this.
 */
async function appendAtFullSpeed(log: RaftLog, config: WriterConfig, count: number, term: number, random: () => number): Promise<void> {
  const first = log.lastIndex + 1
  say(`W ${first} ${first + count - 1} ${term}`)
  for (let index = first; index < first + count; index++) log.append([{ term, data: entryPayload(config.payloadSeed, index, term, config.entrySize) }])
  if (random() < 0.125) await log.flush()
  else log.flushSync()
  boundary(log)
  say(`A ${log.lastIndex + (config.broken === true ? config.batch + 5 : 0)} ${term}`)
}

const config = JSON.parse(process.argv[2] ?? '{}') as WriterConfig
run(config).catch((error: unknown) => {
  process.stderr.write(`writer failed: ${(error as Error).stack ?? String(error)}\n`)
  process.exit(3)
})
