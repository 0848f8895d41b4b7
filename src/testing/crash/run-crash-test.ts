// The crash-test loop: start a writer, crash it (SIGKILL, or a simulated power loss on top),
// reopen the log and check it against what the writer acknowledged; in a corrupt round, then
// damage the recovered log and check that it is read back exactly or refused. The next round goes
// on in the same directory.
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { RaftLog } from '../../storage/raft-log.js'
import { CrashModel, type Violation } from './model.js'
import { mixSeed, prng, type SizeRange } from './payload.js'
import { lossPatterns, simulatePowerLoss } from './power-loss.js'
import { runCorruptRound, type CorruptOutcome, type LogImage } from './corrupt-round.js'
import type { CrashPoint, Killer, KillStep, WriterConfig } from './writer.js'
import { runWriterProcess } from './writer-process.js'
import { snapshotKillPoints, type SnapshotKillPoint } from './snapshot-failpoints.js'
import { SnapshotModel } from './snapshot-model.js'
import { runSnapshotRound } from './snapshot-round.js'

/**
 * both: kill and power-loss rounds alternating. corrupt: kill rounds, each followed by damage to
 * the recovered log. snapshot: a Raft node killed inside its snapshot path (snapshot-round.ts).
 */
export type CrashMode = 'kill' | 'power-loss' | 'both' | 'corrupt' | 'snapshot'

export interface CrashTestOptions {
  dir: string
  rounds: number
  seed: number
  mode: CrashMode
  entrySize: SizeRange
  batch: number
  segmentSize: number
  /** Freed files the writer's log keeps for reuse (RaftLogOptions.recycledSegments; default: RaftLog's). */
  recycledSegments?: number
  /** Runs a writer that acknowledges an entry it never wrote: the test must then fail. */
  brokenWriter?: boolean
  /**
   * Who kills the writer in kill, power-loss and corrupt rounds (default both: one round in three
   * from outside). Kills from outside depend on timing: a seed replays their choices, not the
   * exact moment.
   */
  killers?: 'inside' | 'outside' | 'both'
  onRound?: (round: RoundResult) => void
}

export interface RoundResult {
  round: number
  kind: 'kill' | 'power-loss' | 'corrupt' | 'snapshot'
  /** Where the writer killed itself inside an operation ('none': at a plain point, or a snapshot round's point was not reached). */
  crashPoint: CrashPoint | SnapshotKillPoint
  /** Who killed the writer of a kill, power-loss or corrupt round. */
  killer?: Killer
  /** In a snapshot round: the step of the kill point and the call it died in. */
  killedAt?: string
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
  snapshotRounds: number
  /** Snapshot rounds by the point their writer was killed at (a point not reached counts as none). */
  snapshotKillPoints: Record<SnapshotKillPoint | 'none', number>
  /** How the corrupt rounds ended: refused by open(), refused by a read, or read back exactly. */
  corruptOutcomes: Record<CorruptOutcome, number>
  crashPointRounds: number
  /** Rounds whose writer the parent killed from outside while it appended at full speed. */
  outsideKillRounds: number
  entriesAcknowledged: number
  entriesRecovered: number
  bytesCutOff: number
  framesCutOff: number
  /** Bytes the power-loss rounds changed after the last durable point (zeroed sectors, removed files). */
  bytesLost: number
  /** Recycled segment files whose lost sectors read as what the file held before (not zeros). */
  recycledFilesLost: number
  violations: Violation[]
  durationMs: number
}

// src/testing/crash and dist/testing/crash both sit three levels below the package root,
// and the writer always runs compiled.
const writerPath = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'dist', 'testing', 'crash', 'writer.js')
const crashPoints: CrashPoint[] = ['truncate', 'compact', 'rotation']
/** A plain round's writer kills itself at an operation between these (each an append and flush, mostly). */
const killAtOperationMin = 10
const killAtOperationMax = 600
const killSteps: KillStep[] = ['after-append', 'during-flush', 'before-acknowledge']
/** A crash point is armed at this operation; should it not fire, the writer dies a few later. */
const crashPointAt = 40
/** Every writer kills itself at a seeded point (or is killed); this only stops one that hangs. */
const writerTimeoutMs = 20_000
/** A writer killed from outside dies this long after it opened its log, the seed choosing in between. */
const outsideKillMinMs = 5
const outsideKillMaxMs = 250

/**
 * Runs `options.rounds` crash rounds in `options.dir` (see CrashMode) and checks the log, or the
 * restarted node's state, after each: resolves with the report, whose `violations` list every
 * acknowledged entry lost, changed or doubled, and every refused open a crash cannot explain. A
 * seed replays the same rounds (rounds killed from outside replay their choices, not the moment).
 */
export async function runCrashTest(options: CrashTestOptions): Promise<CrashTestReport> {
  const started = Date.now()
  const model = new CrashModel(options.seed, options.entrySize)
  const report: CrashTestReport = {
    seed: options.seed,
    rounds: 0,
    killRounds: 0,
    powerLossRounds: 0,
    corruptRounds: 0,
    snapshotRounds: 0,
    snapshotKillPoints: Object.fromEntries([...snapshotKillPoints, 'none'].map((point) => [point, 0])) as Record<SnapshotKillPoint | 'none', number>,
    corruptOutcomes: { 'refused at open': 0, 'refused at read': 0, exact: 0 },
    crashPointRounds: 0,
    outsideKillRounds: 0,
    entriesAcknowledged: 0,
    entriesRecovered: 0,
    bytesCutOff: 0,
    framesCutOff: 0,
    bytesLost: 0,
    recycledFilesLost: 0,
    violations: [],
    durationMs: 0,
  }
  const snapshotModel = new SnapshotModel()
  for (let round = 1; round <= options.rounds; round++) {
    const random = prng(mixSeed(options.seed, round))
    const result = options.mode === 'snapshot' ? await snapshotRound(options, snapshotModel, round, random, report) : await logRound(options, model, round, random, report)
    report.rounds++
    if (result.kind === 'kill') report.killRounds++
    else if (result.kind === 'power-loss') report.powerLossRounds++
    else if (result.kind === 'corrupt') report.corruptRounds++
    else report.snapshotRounds++
    if (result.crashPoint !== 'none') report.crashPointRounds++
    if (result.killer === 'outside') report.outsideKillRounds++
    report.entriesAcknowledged += result.acknowledged
    report.entriesRecovered = result.recovered
    report.violations.push(...result.violations)
    options.onRound?.(result)
  }
  report.durationMs = Date.now() - started
  return report
}

/** A round of the log writer: kill, power loss or corrupt. */
async function logRound(options: CrashTestOptions, model: CrashModel, round: number, random: () => number, report: CrashTestReport): Promise<RoundResult> {
  const kind: RoundResult['kind'] = options.mode === 'both' ? (round % 2 === 1 ? 'kill' : 'power-loss') : (options.mode as 'kill' | 'power-loss' | 'corrupt')
  // Every third round crashes inside an operation instead of at a random moment; of the others, one
  // in two is killed from outside (unless told otherwise).
  const crashPoint: CrashPoint = round % 3 === 0 ? (crashPoints[Math.floor(round / 3) % crashPoints.length] as CrashPoint) : 'none'
  const killers = options.killers ?? 'both'
  const killer: Killer = killers === 'outside' || (killers === 'both' && round % 3 === 1) ? 'outside' : 'inside'
  const config: WriterConfig = {
    dir: options.dir,
    payloadSeed: options.seed,
    roundSeed: mixSeed(options.seed, round, 1),
    segmentSize: options.segmentSize,
    ...(options.recycledSegments === undefined ? {} : { recycledSegments: options.recycledSegments }),
    entrySize: options.entrySize,
    batch: options.batch,
    crashPoint,
    crashPointAt,
    broken: options.brokenWriter === true,
    killAtOperation: crashPoint === 'none' ? killAtOperationMin + Math.floor(random() * (killAtOperationMax - killAtOperationMin)) : crashPointAt + 5,
    killStep: killSteps[Math.floor(random() * killSteps.length)] as KillStep,
    killer,
  }
  if (killer === 'outside') config.crashPoint = 'none'
  const killAfterMs = killer === 'outside' ? outsideKillMinMs + Math.floor(random() * (outsideKillMaxMs - outsideKillMinMs)) : undefined
  const acknowledgedBefore = model.acknowledgedCount
  const writerProblem = await runWriterProcess(writerPath, config, (line) => model.observe(line), writerTimeoutMs, killAfterMs)
  const result: RoundResult = {
    round,
    kind,
    crashPoint: config.crashPoint,
    killer,
    acknowledged: model.acknowledgedCount - acknowledgedBefore,
    recovered: 0,
    cutBytes: 0,
    violations: [],
  }
  if (writerProblem !== undefined) result.violations.push({ round, problem: writerProblem })
  if (kind === 'power-loss' && model.boundary !== undefined) {
    const pattern = lossPatterns[Math.floor(random() * lossPatterns.length)] ?? 'zeros'
    const loss = simulatePowerLoss(options.dir, model.boundary, pattern, random)
    result.lossPattern = loss.pattern
    report.bytesLost += loss.bytesChanged
    report.recycledFilesLost += loss.recycledFiles
  }
  const recovered = checkRecovery(options, model, round, result, report)
  if (kind === 'corrupt' && recovered !== undefined) {
    const corrupt = runCorruptRound({ dir: options.dir, segmentSize: options.segmentSize, recycledSegments: options.recycledSegments, payloadSeed: options.seed, entrySize: options.entrySize }, recovered, round, random)
    result.damage = corrupt.damage
    result.corruptOutcome = corrupt.outcome
    result.violations.push(...corrupt.violations)
    if (corrupt.outcome !== undefined) report.corruptOutcomes[corrupt.outcome]++
  }
  return result
}

/** A round of the snapshot writer: a Raft node killed inside its snapshot path, then restarted. */
async function snapshotRound(options: CrashTestOptions, model: SnapshotModel, round: number, random: () => number, report: CrashTestReport): Promise<RoundResult> {
  const dir = options.dir
  const outcome = await runSnapshotRound({ dir, seed: options.seed, entrySize: options.entrySize, segmentSize: options.segmentSize, brokenWriter: options.brokenWriter === true }, model, round, random)
  const point = outcome.reached ? outcome.plan.point : 'none'
  report.snapshotKillPoints[point]++
  return {
    round,
    kind: 'snapshot',
    crashPoint: point,
    ...(outcome.killedAt === undefined ? {} : { killedAt: outcome.killedAt }),
    acknowledged: outcome.acknowledged,
    recovered: outcome.restored,
    cutBytes: 0,
    violations: outcome.violations,
  }
}

/** Reopens the log and checks it against the model; returns what it holds when it could be read. */
function checkRecovery(options: CrashTestOptions, model: CrashModel, round: number, result: RoundResult, report: CrashTestReport): LogImage | undefined {
  let log: RaftLog
  try {
    log = RaftLog.open(options.dir, { segmentSize: options.segmentSize, recycledSegments: options.recycledSegments, logger: { warn() {} } })
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
