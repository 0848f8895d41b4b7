// The crash test of the shared log engine: start a writer child that changes many groups and
// flushes them together, crash it (SIGKILL from outside at a random moment, or by itself at a
// chosen step: after staging, during the flush, before acknowledging, inside a purge), optionally
// play a power loss on top, reopen the directory and check every group against what the writer
// acknowledged (engine-crash-model.ts). The next round goes on in the same directory.
import { cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { fileHeaderSizeBytes, parseEngineFileName } from '../../engine/engine-format.js'
import { LogEngine } from '../../engine/log-engine.js'
import { sectorSizeBytes } from '../../storage/recovery-rule.js'
import { engineKillSteps, type EngineKillStep, type EngineWriterConfig } from './engine-crash-config.js'
import { EngineCrashModel, type EngineBoundary, type EngineViolation } from './engine-crash-model.js'
import { mixSeed, prng, type SizeRange } from './payload.js'
import { runWriterProcess } from './writer-process.js'

export type EngineCrashMode = 'kill' | 'power-loss' | 'both'

export interface EngineCrashTestOptions {
  dir: string
  rounds: number
  seed: number
  mode: EngineCrashMode
  /** Groups the writer changes (created in the first round). */
  groups: number
  /** Engine file size in bytes: small, so that files rotate and purges free them. */
  fileSize: number
  entrySize: SizeRange
  /** Runs a writer that acknowledges an entry it never wrote: the test must then fail. */
  brokenWriter?: boolean
  onRound?: (round: EngineRoundResult) => void
}

export interface EngineRoundResult {
  round: number
  kind: 'kill' | 'power-loss'
  killer: 'inside' | 'outside'
  killStep?: EngineKillStep
  cutBytes: number
  /** Bytes a power loss zeroed past the durable boundary (0 in a kill round). */
  lostBytes: number
  entries: number
  violations: EngineViolation[]
}

export interface EngineCrashReport {
  seed: number
  rounds: number
  killRounds: number
  powerLossRounds: number
  outsideKillRounds: number
  /** Inside rounds by the step the writer killed itself at. */
  killSteps: Record<EngineKillStep, number>
  /** Changes (entries appended, compactions, hard states, groups made) acknowledged over all rounds. */
  changesAcknowledged: number
  /** Entries the engine held after the last round. */
  entriesRecovered: number
  bytesCutOff: number
  /** Bytes the power-loss rounds zeroed after the last durable point. */
  bytesLost: number
  violations: EngineViolation[]
  durationMs: number
}

// The writer always runs compiled, from dist/ (src/testing/crash and dist/testing/crash sit three levels down).
const writerPath = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'dist', 'testing', 'crash', 'engine-writer.js')
const writerTimeoutMs = 20_000
const killAtTurnMin = 3
const killAtTurnMax = 60
const outsideKillMinMs = 10
const outsideKillMaxMs = 300

/** Runs the rounds and checks the directory after each; a seed replays the same choices. */
export async function runEngineCrashTest(options: EngineCrashTestOptions): Promise<EngineCrashReport> {
  const started = Date.now()
  const model = new EngineCrashModel(options.seed, options.entrySize)
  const report: EngineCrashReport = {
    seed: options.seed,
    rounds: 0,
    killRounds: 0,
    powerLossRounds: 0,
    outsideKillRounds: 0,
    killSteps: Object.fromEntries(engineKillSteps.map((step) => [step, 0])) as Record<EngineKillStep, number>,
    changesAcknowledged: 0,
    entriesRecovered: 0,
    bytesCutOff: 0,
    bytesLost: 0,
    violations: [],
    durationMs: 0,
  }
  for (let round = 1; round <= options.rounds; round++) {
    const result = await engineRound(options, model, round, report)
    report.rounds++
    if (result.kind === 'kill') report.killRounds++
    else report.powerLossRounds++
    if (result.killer === 'outside') report.outsideKillRounds++
    else if (result.killStep !== undefined) report.killSteps[result.killStep]++
    report.entriesRecovered = result.entries
    report.violations.push(...result.violations)
    options.onRound?.(result)
  }
  report.changesAcknowledged = model.acknowledgedChanges
  report.durationMs = Date.now() - started
  return report
}

async function engineRound(options: EngineCrashTestOptions, model: EngineCrashModel, round: number, report: EngineCrashReport): Promise<EngineRoundResult> {
  const random = prng(mixSeed(options.seed, round))
  const kind: EngineRoundResult['kind'] = options.mode === 'both' ? (round % 2 === 1 ? 'kill' : 'power-loss') : options.mode
  const killer = round % 3 === 1 ? 'outside' : 'inside'
  // Inside kills take the steps in turn, not drawn: every 12 rounds kill at each step twice (a
  // drawn step left seed 1080853151's 24 rounds without one kill during a flush).
  const insideRoundsBefore = round - 1 - Math.floor((round + 1) / 3)
  const killStep = engineKillSteps[(insideRoundsBefore + options.seed) % engineKillSteps.length] as EngineKillStep
  const config: EngineWriterConfig = {
    dir: options.dir,
    payloadSeed: options.seed,
    roundSeed: mixSeed(options.seed, round, 1),
    groups: options.groups,
    fileSize: options.fileSize,
    entrySize: options.entrySize,
    killAtTurn: killer === 'outside' ? 0 : killAtTurnMin + Math.floor(random() * (killAtTurnMax - killAtTurnMin)),
    killStep,
    broken: options.brokenWriter === true,
  }
  const killAfterMs = killer === 'outside' ? outsideKillMinMs + Math.floor(random() * (outsideKillMaxMs - outsideKillMinMs)) : undefined
  const result: EngineRoundResult = { round, kind, killer, cutBytes: 0, lostBytes: 0, entries: 0, violations: [] }
  if (killer === 'inside') result.killStep = killStep
  // RAFTLOG_CRASH_TRACE=DIR: keep each round's lines (round-N.lines) and its directory as the crash left it, before any power loss.
  const trace = process.env.RAFTLOG_CRASH_TRACE
  const lines: string[] = []
  const observe = (line: string): void => {
    if (trace !== undefined) lines.push(line)
    model.observe(line)
  }
  const problem = await runWriterProcess(writerPath, config, observe, writerTimeoutMs, killAfterMs)
  if (trace !== undefined) {
    writeFileSync(join(trace, `round-${round}.lines`), lines.join('\n'))
    cpSync(options.dir, join(trace, `round-${round}.before-loss`), { recursive: true })
  }
  if (problem !== undefined) result.violations.push({ round, problem })
  // A writer killed inside a purge had synced its rewrite past the last boundary it said: where
  // its durable bytes end is unknown, so that round loses nothing more.
  if (kind === 'power-loss' && !model.purging) result.lostBytes = losePastBoundary(options.dir, model.boundary, random)
  report.bytesLost += result.lostBytes
  let engine: LogEngine
  try {
    engine = LogEngine.open(options.dir, { fileSize: options.fileSize, logger: { warn() {} } })
  } catch (error) {
    result.violations.push({ round, problem: `the engine could not be reopened: ${(error as Error).message}` })
    return result
  }
  try {
    const { violations, entries } = model.check(engine, round)
    result.violations.push(...violations)
    result.entries = entries
    result.cutBytes = engine.recovery.cutBytes
    report.bytesCutOff += engine.recovery.cutBytes
  } catch (error) {
    result.violations.push({ round, problem: `reading the reopened engine failed: ${(error as Error).message}` })
  } finally {
    engine.close()
  }
  return result
}

/**
 * A power loss: in the last file, past the durable boundary (or past its header, which was
 * durable when the file was made, for a file made after it), sectors never written back read as
 * zeros. Earlier files were synced whole before the next was made. Returns the bytes zeroed.
 */
function losePastBoundary(dir: string, boundary: EngineBoundary | undefined, random: () => number): number {
  const names = readdirSync(dir).filter((name) => parseEngineFileName(name) !== undefined).sort()
  const last = names.at(-1)
  if (last === undefined) return 0
  const path = join(dir, last)
  const bytes = readFileSync(path)
  const start = boundary?.file === last ? boundary.bytes : fileHeaderSizeBytes
  const before = Buffer.from(bytes)
  const firstSector = Math.ceil(start / sectorSizeBytes)
  const sectors = Math.ceil(bytes.length / sectorSizeBytes)
  const pattern = Math.floor(random() * 3)
  // The partial sector holding the boundary is written whole or not at all: only its part past the boundary may go.
  const drop = (sector: number) => bytes.fill(0, Math.max(start, sector * sectorSizeBytes), Math.min(bytes.length, (sector + 1) * sectorSizeBytes))
  // The sector holding the last byte written past the boundary: every pattern loses at least that
  // one when there is anything to lose, so a round that wrote past the boundary always loses bytes.
  const lastDataSector = Math.floor(lastNonZero(bytes, start) / sectorSizeBytes)
  if (pattern === 0) bytes.fill(0, start)
  else if (pattern === 1) {
    for (let sector = firstSector - 1; sector < sectors; sector++) if (random() < 0.5) drop(sector)
    if (lastDataSector >= 0) drop(lastDataSector)
  } else {
    const lastWritten = firstSector - 1 + Math.floor(random() * (Math.max(lastDataSector, firstSector - 1) - firstSector + 2))
    for (let sector = lastWritten; sector < sectors; sector++) drop(sector)
  }
  writeFileSync(path, bytes)
  let changed = 0
  for (let i = start; i < bytes.length; i++) if (bytes[i] !== before[i]) changed++
  return changed
}

/** The offset of the last non-zero byte at or after `from`, or -1. */
function lastNonZero(bytes: Buffer, from: number): number {
  for (let i = bytes.length - 1; i >= from; i--) if (bytes[i] !== 0) return i
  return -1
}
