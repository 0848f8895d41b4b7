// The check of a `--mode corrupt` round. The log was just recovered, so every entry in it is
// acknowledged. It is damaged (corruption.ts), then opened and read: the only acceptable outcomes
// are the same log exactly, or ERR_CORRUPT from open() (which must then have changed nothing) or
// from reading an entry. `raftlog verify` must agree with what open() and the reads found. The
// log is then put back as it was, for the next round.
import { basename } from 'node:path'
import { RaftLogError } from '../../errors.js'
import { RaftLog } from '../../storage/raft-log.js'
import { checkLog, type LogCheck } from '../../verify/log-check.js'
import { damageLog, describeDamage, restoreSnapshot, sameAsSnapshot, takeSnapshot } from './corruption.js'
import type { Violation } from './model.js'
import { entryPayload, sameBytes, type SizeRange } from './payload.js'

export type CorruptOutcome = 'refused at open' | 'refused at read' | 'exact'

/** The log before the damage: its first index and the term of each entry from there on. */
export interface LogImage {
  firstIndex: number
  terms: number[]
}

export interface CorruptRound {
  damage: string
  outcome: CorruptOutcome | undefined
  violations: Violation[]
}

export interface CorruptRoundOptions {
  dir: string
  segmentSize: number
  recycledSegments?: number | undefined
  payloadSeed: number
  entrySize: SizeRange
}

export function runCorruptRound(options: CorruptRoundOptions, before: LogImage, round: number, random: () => number): CorruptRound {
  const { dir } = options
  const snapshot = takeSnapshot(dir)
  const damage = damageLog(dir, random)
  const result: CorruptRound = { damage: describeDamage(damage), outcome: undefined, violations: [] }
  const fail = (problem: string): void => {
    result.violations.push({ round, problem: `after ${result.damage}: ${problem}` })
  }
  try {
    const damaged = takeSnapshot(dir)
    const verify = checkLog(dir)
    let log: RaftLog
    try {
      log = RaftLog.open(dir, { segmentSize: options.segmentSize, recycledSegments: options.recycledSegments, logger: { warn() {} } })
    } catch (error) {
      if (!(error instanceof RaftLogError) || error.code !== 'ERR_CORRUPT') {
        fail(`open() failed with ${(error as Error).message}`)
        return result
      }
      result.outcome = 'refused at open'
      if (!sameAsSnapshot(dir, damaged)) fail('open() changed the log it refused')
      if (!verifyFound(verify, error)) fail(`verify does not report what open() refused: ${error.message}`)
      return result
    }
    let difference: string | undefined
    try {
      difference = readBack(log, before, options)
    } catch (error) {
      if (!(error instanceof RaftLogError) || error.code !== 'ERR_CORRUPT') throw error
      result.outcome = 'refused at read'
      if (verify.problems.length === 0) fail(`verify says ok, but reading said: ${error.message}`)
      return result
    } finally {
      log.close()
    }
    if (difference !== undefined) {
      fail(difference)
      return result
    }
    result.outcome = 'exact'
    if (verify.problems.length > 0) fail(`the log reads back exactly, but verify reports ${verify.problems[0]?.problem}`)
    return result
  } catch (error) {
    fail(`checking the damaged log failed: ${(error as Error).message}`)
    return result
  } finally {
    restoreSnapshot(dir, snapshot)
  }
}

/** Reads every entry; returns what differs (a silently changed log), or undefined when nothing does. */
function readBack(log: RaftLog, before: LogImage, options: CorruptRoundOptions): string | undefined {
  if (log.firstIndex !== before.firstIndex || log.lastIndex !== before.firstIndex + before.terms.length - 1) {
    return `the log now holds ${log.firstIndex}..${log.lastIndex} instead of ${before.firstIndex}..${before.firstIndex + before.terms.length - 1}, with no error`
  }
  for (const entry of log.slice(log.firstIndex)) {
    const term = before.terms[entry.index - before.firstIndex]
    if (entry.term !== term) return `entry ${entry.index} has term ${entry.term} instead of ${term}, with no error`
    if (!sameBytes(entry.data, entryPayload(options.payloadSeed, entry.index, entry.term, options.entrySize))) {
      return `entry ${entry.index} reads back different bytes, with no error`
    }
  }
  return undefined
}

/** verify must name the same damage open() refused, at the same file and byte. */
function verifyFound(verify: LogCheck, error: RaftLogError): boolean {
  if (verify.outcome.kind !== 'damage') return false
  const { file, offset } = error.details as { file?: string; offset?: number }
  return verify.outcome.damage.file === basename(file ?? '') && verify.outcome.damage.offset === offset
}
