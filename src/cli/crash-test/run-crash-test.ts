// The crash-test loop: start a writer, crash it (SIGKILL, or a simulated power loss on top),
// reopen the log and check it against what the writer acknowledged; in a corrupt round, then
// damage the recovered log and check that it is read back exactly or refused. The next round goes
// on in the same directory.
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { RaftLog } from '../../storage/raft-log.js'
import { CrashModel, type Violation } from './model.js'
import { mixSeed, prng, type SizeRange } from './payload.js'
import { lossPatterns, simulatePowerLoss } from './power-loss.js'
import { runCorruptRound, type CorruptOutcome, type LogImage } from './corrupt-round.js'
import type { CrashPoint, KillStep, WriterConfig } from './writer.js'

/** both: kill and power-loss rounds alternating. corrupt: kill rounds, each followed by damage to the recovered log. */
export type CrashMode = 'kill' | 'power-loss' | 'both' | 'corrupt'

export interface CrashTestOptions {
  dir: string
  rounds: number
  seed: number
  mode: CrashMode
  entrySize: SizeRange
  batch: number
  segmentSize: number
  /** Runs a writer that acknowledges an entry it never wrote: the test must then fail. */
  brokenWriter?: boolean
  onRound?: (round: RoundResult) => void
}

export interface RoundResult {
  round: number
  kind: 'kill' | 'power-loss' | 'corrupt'
  crashPoint: CrashPoint
  lossPattern?: string
  /** In a corrupt round: the damage done, and what opening and reading the log gave. */
  damage?: string
  corruptOutcome?: CorruptOutcome
  acknowledged: number
  recovered: number
  cutBytes: number
  violations: Violation[]
}

export interface CrashTestReport {
  seed: number
  rounds: number
  killRounds: number
  powerLossRounds: number
  corruptRounds: number
  /** How the corrupt rounds ended: refused by open(), refused by a read, or read back exactly. */
  corruptOutcomes: Record<CorruptOutcome, number>
  crashPointRounds: number
  entriesAcknowledged: number
  entriesRecovered: number
  bytesCutOff: number
  framesCutOff: number
  violations: Violation[]
  durationMs: number
}

// src/cli/crash-test and dist/cli/crash-test both sit three levels below the package root,
// and the writer always runs compiled.
const writerPath = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'dist', 'cli', 'crash-test', 'writer.js')
const crashPoints: CrashPoint[] = ['truncate', 'compact', 'rotation']
/** A plain round's writer kills itself at an operation between these (each an append and flush, mostly). */
const killAtOperationMin = 10
const killAtOperationMax = 600
const killSteps: KillStep[] = ['after-append', 'during-flush', 'before-acknowledge']
/** A crash point is armed at this operation; should it not fire, the writer dies a few later. */
const crashPointAt = 40
/** Every writer kills itself at a seeded point; this only stops one that hangs. */
const writerTimeoutMs = 20_000

export async function runCrashTest(options: CrashTestOptions): Promise<CrashTestReport> {
  const started = Date.now()
  const model = new CrashModel(options.seed, options.entrySize)
  const report: CrashTestReport = {
    seed: options.seed,
    rounds: 0,
    killRounds: 0,
    powerLossRounds: 0,
    corruptRounds: 0,
    corruptOutcomes: { 'refused at open': 0, 'refused at read': 0, exact: 0 },
    crashPointRounds: 0,
    entriesAcknowledged: 0,
    entriesRecovered: 0,
    bytesCutOff: 0,
    framesCutOff: 0,
    violations: [],
    durationMs: 0,
  }
  for (let round = 1; round <= options.rounds; round++) {
    const random = prng(mixSeed(options.seed, round))
    const kind: RoundResult['kind'] = options.mode === 'both' ? (round % 2 === 1 ? 'kill' : 'power-loss') : options.mode
    // Every third round crashes inside an operation instead of at a random moment.
    const crashPoint: CrashPoint = round % 3 === 0 ? (crashPoints[Math.floor(round / 3) % crashPoints.length] as CrashPoint) : 'none'
    const config: WriterConfig = {
      dir: options.dir,
      payloadSeed: options.seed,
      roundSeed: mixSeed(options.seed, round, 1),
      segmentSize: options.segmentSize,
      entrySize: options.entrySize,
      batch: options.batch,
      crashPoint,
      crashPointAt,
      broken: options.brokenWriter === true,
      killAtOperation: crashPoint === 'none' ? killAtOperationMin + Math.floor(random() * (killAtOperationMax - killAtOperationMin)) : crashPointAt + 5,
      killStep: killSteps[Math.floor(random() * killSteps.length)] as KillStep,
    }
    const acknowledgedBefore = model.acknowledgedCount
    const writerProblem = await runWriter(config, model, writerTimeoutMs)
    const result: RoundResult = { round, kind, crashPoint, acknowledged: model.acknowledgedCount - acknowledgedBefore, recovered: 0, cutBytes: 0, violations: [] }
    if (writerProblem !== undefined) result.violations.push({ round, problem: writerProblem })
    if (kind === 'power-loss' && model.boundary !== undefined) {
      const pattern = lossPatterns[Math.floor(random() * lossPatterns.length)] ?? 'zeros'
      result.lossPattern = simulatePowerLoss(options.dir, model.boundary, pattern, random).pattern
    }
    const recovered = checkRecovery(options, model, round, result, report)
    if (kind === 'corrupt' && recovered !== undefined) {
      const corrupt = runCorruptRound({ dir: options.dir, segmentSize: options.segmentSize, payloadSeed: options.seed, entrySize: options.entrySize }, recovered, round, random)
      result.damage = corrupt.damage
      result.corruptOutcome = corrupt.outcome
      result.violations.push(...corrupt.violations)
      if (corrupt.outcome !== undefined) report.corruptOutcomes[corrupt.outcome]++
    }
    report.rounds++
    if (kind === 'kill') report.killRounds++
    else if (kind === 'power-loss') report.powerLossRounds++
    else report.corruptRounds++
    if (crashPoint !== 'none') report.crashPointRounds++
    report.entriesAcknowledged += result.acknowledged
    report.entriesRecovered = result.recovered
    report.violations.push(...result.violations)
    options.onRound?.(result)
  }
  report.durationMs = Date.now() - started
  return report
}

/** Reopens the log and checks it against the model; returns what it holds when it could be read. */
function checkRecovery(options: CrashTestOptions, model: CrashModel, round: number, result: RoundResult, report: CrashTestReport): LogImage | undefined {
  let log: RaftLog
  try {
    log = RaftLog.open(options.dir, { segmentSize: options.segmentSize, logger: { warn() {} } })
  } catch (error) {
    result.violations.push({ round, problem: `the log could not be reopened: ${(error as Error).message}` })
    return undefined
  }
  try {
    const { violations, recovered } = model.check(log, round)
    result.violations.push(...violations)
    result.recovered = recovered
    result.cutBytes = log.recovery.cutBytes
    report.bytesCutOff += log.recovery.cutBytes
    report.framesCutOff += log.recovery.cutFrames
    return { firstIndex: log.firstIndex, terms: log.slice(log.firstIndex).map((entry) => entry.term) }
  } catch (error) {
    result.violations.push({ round, problem: `reading the recovered log failed: ${(error as Error).message}` })
    return undefined
  } finally {
    log.close()
  }
}

/** Runs one writer until it kills itself; resolves with a problem description if it failed otherwise. */
function runWriter(config: WriterConfig, model: CrashModel, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [writerPath, JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    let timer: NodeJS.Timeout | undefined
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    let hung = false
    createInterface({ input: child.stdout }).on('line', (line) => {
      model.observe(line)
      // The clock starts once the writer has opened the log, so start-up time does not count.
      if (line.startsWith('O ') && timer === undefined) {
        timer = setTimeout(() => {
          hung = true
          child.kill('SIGKILL')
        }, timeoutMs)
      }
    })
    child.on('close', (code, signal) => {
      if (timer !== undefined) clearTimeout(timer)
      if (hung) resolve(`the writer did not reach its kill point within ${timeoutMs} ms`)
      else if (signal === 'SIGKILL') resolve(undefined)
      else resolve(`the writer exited on its own (code ${code}, signal ${signal}): ${stderr.trim().split('\n').slice(0, 3).join(' | ')}`)
    })
  })
}
