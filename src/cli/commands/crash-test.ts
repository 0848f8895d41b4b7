import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { UsageError, type Command } from '../command.js'
import { runCrashTest, type CrashMode, type CrashTestReport, type RoundResult } from '../../testing/crash/run-crash-test.js'
import { runEngineCrashTest, type EngineCrashReport, type EngineRoundResult } from '../../testing/crash/run-engine-crash-test.js'
import type { SizeRange } from '../../testing/crash/payload.js'
import { pageSizeBytes } from '../../storage/native.js'
import { maxEntrySizeBytes } from '../../storage/segment-format.js'
import { maxRecycledSegments } from '../../storage/raft-log.js'
import { plural } from '../plural.js'

const help = `Usage: raftlog crash-test [options]

Crashes a writer process again and again and checks the log after each crash: every
acknowledged (flushed) entry present and byte-exact, no entry that was never written, indexes
contiguous, terms non-decreasing. Each round goes on in the same directory.

  kill rounds        the writer SIGKILLs itself at a point the seed picks: an operation
                     number, then after an append, during its flush's fdatasync, or after the
                     flush but before the parent heard of it (so a seed replays a run exactly);
                     or, one round in three, the parent SIGKILLs it from outside, a delay
                     the seed picks after it started, while it appends at full speed (one
                     append() per entry, a flush per batch): the kill lands anywhere, inside
                     a frame's stores or a seal too, so those rounds replay only roughly
  power-loss rounds  on top of the kill, what was written after the last flush is lost as a
                     disk loses it: each 512-byte sector is the new data or zeros (the files are
                     preallocated), written back in order up to a point, sector by sector, or
                     page by page in any order
  corrupt rounds     a kill round, then damage no crash makes: a flipped bit or random bytes
                     anywhere in the recovered log (any segment, header, frame or offset table).
                     Opening and reading it must give it back exactly or fail with ERR_CORRUPT
                     (open() then changing nothing), never a shorter or different log; and
                     \`raftlog verify\` must report what open() and the reads found. The log is
                     put back as it was before the next round.
  every third round  the writer kills itself inside truncateAfter, compact or a segment rotation
  snapshot rounds    (--mode snapshot) the writer runs a real one-node RaftNode (MemoryNetwork, a
                     small state machine with snapshot() and restore(), a snapshot every 32
                     entries, 4 KiB segments), proposes one entry at a time, and kills itself at
                     a call the seed picks inside the snapshot path, each kind in turn:
                       snapshot-write   a write or the sync of the temporary snapshot file
                                        (before it, after it, or with half its bytes written)
                       snapshot-rename  the rename to the real name (before or after it)
                       log-compaction   a segment deletion of the compaction after it
                       snapshot-prune   the deletion of an older snapshot file
                     \`raftlog verify\` must find the directory clean as the crash left it; a
                     node restarted on it must hold every acknowledged proposal exactly once, at
                     the index it was acknowledged at, nothing never proposed, and apply up to
                     at least the highest acknowledged index (never less than a restart before);
                     verify must be clean again after that node stopped

  engine rounds      (--engine) the writer is the shared log engine (LogEngine) holding --groups
                     groups: each turn it changes a dozen of them (appends, conflicting appends
                     at a new term, compactions, hard states) and flushes them all with one
                     flush, and purges now and then; it is killed from outside (one round in
                     three) or kills itself after staging a turn, during its flush, before
                     acknowledging it or inside a purge. Every group must be what its
                     acknowledged changes made it, plus a prefix of the changes it said after,
                     payloads byte-exact. --mode kill, power-loss or both.

Options:
  --engine                test the shared log engine instead of RaftLog (see engine rounds)
  --groups N              groups in an engine run (default 48)
  --dir D                 directory to test in; must be new or empty (default: a temporary
                          directory, removed afterwards unless --keep)
  --rounds N              number of crash rounds (default 20)
  --seed S                seed of every random choice; a failure prints the seed that replays it
  --mode M                kill | power-loss | both (default: kill and power-loss alternating)
                          | corrupt | snapshot
  --entry-size B|MIN-MAX  payload size in bytes, fixed or a range (default 1-1024)
  --batch N               largest number of entries per append and flush (default 16; a snapshot
                          round proposes one at a time)
  --recycled-segments N   freed segment files the writer's log keeps and reuses (0 to 2; default:
                          RaftLog's), so rotations write into files that hold old frames
  --kill-from K           who kills the writer of kill, power-loss and corrupt rounds: inside
                          (the writer, at seeded points: an exact replay), outside (the parent,
                          at a moment of appending at full speed), or both (default)
  --segment-size BYTES    segment size, a multiple of the page size (default 65536, small so rounds
                          rotate; 4096 in snapshot rounds, so each compaction deletes segments)
  --keep                  keep the temporary directory
  --json                  print the report as JSON
  --broken-writer         self-test: use a writer that acknowledges an entry (in snapshot rounds,
                          a proposal) it never wrote; the run must then report violations
  -h, --help              show this help

Debugging: with RAFTLOG_CRASH_TRACE=DIR set, each log round N keeps the lines its writer said
(DIR/round-N.writer, written before they go to the pipe) and the lines the checker heard
(DIR/round-N.parent); each engine round N the lines heard (DIR/round-N.lines) and a copy of the
directory as the crash left it, before any power loss (DIR/round-N.before-loss).

Exit status: 0 when every round passed, 1 on any violation, 2 on bad usage.

Examples:
  raftlog crash-test --rounds 30 --mode both --seed 42
  raftlog crash-test --rounds 8 --mode snapshot --seed 42
  raftlog crash-test --engine --groups 64 --rounds 20 --mode both --seed 42`

function parseWholeNumber(flag: string, text: string | undefined, fallback: number, min = 1): number {
  if (text === undefined) return fallback
  const value = Number(text)
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < min) {
    throw new UsageError(`${flag} must be a whole number of at least ${min}, got '${text}'`)
  }
  return value
}

function parseEntrySize(text: string | undefined): SizeRange {
  if (text === undefined) return { min: 1, max: 1024 }
  const match = /^(\d+)(?:-(\d+))?$/.exec(text)
  const min = Number(match?.[1])
  const max = match?.[2] === undefined ? min : Number(match[2])
  if (match === null || min > max || max > maxEntrySizeBytes) {
    throw new UsageError(`--entry-size must be BYTES or MIN-MAX with MIN <= MAX <= ${maxEntrySizeBytes}, got '${text}'`)
  }
  return { min, max }
}

function parseMode(text: string | undefined): CrashMode {
  if (text === undefined) return 'both'
  if (text === 'kill' || text === 'power-loss' || text === 'both' || text === 'corrupt' || text === 'snapshot') return text
  throw new UsageError(`--mode must be kill, power-loss, both, corrupt or snapshot, got '${text}'`)
}

function parseKillers(text: string | undefined): 'inside' | 'outside' | 'both' {
  if (text === undefined) return 'both'
  if (text === 'inside' || text === 'outside' || text === 'both') return text
  throw new UsageError(`--kill-from must be inside, outside or both, got '${text}'`)
}

function prepareDirectory(dir: string | undefined): { dir: string; temporary: boolean } {
  if (dir === undefined) return { dir: mkdtempSync(join(tmpdir(), 'raftlog-crash-test-')), temporary: true }
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    throw new UsageError(`--dir ${dir} is not empty: crash-test writes its own entries and needs a new or empty directory`)
  }
  mkdirSync(dir, { recursive: true })
  return { dir, temporary: false }
}

/** A one-line progress bar on a terminal; plain lines otherwise (CI logs). */
function progressReporter(rounds: number, quiet: boolean): (round: RoundResult) => void {
  const terminal = process.stderr.isTTY === true
  let violations = 0
  return (round) => {
    violations += round.violations.length
    if (quiet) return
    const damage = round.damage === undefined ? '' : `: ${round.damage}: ${round.corruptOutcome ?? 'violation'}`
    const killedAt = round.killedAt === undefined ? '' : ` (${round.killedAt})`
    const detail = `${round.kind}${round.killer === 'outside' ? ' from outside' : ''}${round.crashPoint === 'none' ? '' : ` in ${round.crashPoint}`}${round.lossPattern === undefined ? '' : ` (${round.lossPattern})`}${damage}${killedAt}`
    const counts =
      round.kind === 'snapshot'
        ? `${round.acknowledged} acknowledged, ${round.recovered} in the restored state`
        : `${round.acknowledged} acknowledged, ${round.recovered} in log, ${plural(round.cutBytes, 'byte')} cut`
    if (terminal) {
      const width = 30
      const filled = Math.round((round.round / rounds) * width)
      process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${round.round}/${rounds} ${detail.padEnd(34)} violations: ${violations}`)
      if (round.round === rounds) process.stderr.write('\n')
    } else {
      process.stderr.write(
        `round ${round.round}/${rounds}: ${detail}: ${counts}, ${plural(round.violations.length, 'violation')}\n`,
      )
    }
  }
}

/** The lines of a snapshot run: its rounds by kill point, and proposals instead of entries. */
function snapshotLines(report: CrashTestReport): string[] {
  const points = report.snapshotKillPoints
  return [
    `  rounds:                ${report.rounds} (${report.snapshotRounds} snapshot; ${report.crashPointRounds} killed inside the snapshot path)`,
    `  killed in:             ${points['snapshot-write']} snapshot-write, ${points['snapshot-rename']} snapshot-rename, ${points['log-compaction']} log-compaction, ${points['snapshot-prune']} snapshot-prune; ${points.none} not reached`,
    `  acknowledged:          ${plural(report.entriesAcknowledged, 'proposal')}`,
    `  restored state:        ${plural(report.entriesRecovered, 'proposal')}`,
  ]
}

function printReport(report: CrashTestReport, dir: string): void {
  const logLines = [
    `  rounds:                ${report.rounds} (${report.killRounds} kill, ${report.powerLossRounds} power-loss, ${report.corruptRounds} corrupt; ${report.crashPointRounds} inside an operation, ${report.outsideKillRounds} killed from outside)`,
    ...(report.corruptRounds === 0
      ? []
      : [
          `  after damage:          ${report.corruptOutcomes['refused at open']} refused by open(), ${report.corruptOutcomes['refused at read']} refused by a read, ${report.corruptOutcomes.exact} read back exactly`,
        ]),
    `  entries acknowledged:  ${report.entriesAcknowledged}`,
    `  entries in final log:  ${report.entriesRecovered}`,
    ...(report.powerLossRounds === 0
      ? []
      : [
          `  lost to power loss:    ${plural(report.bytesLost, 'byte')} written after the last flush` +
            (report.recycledFilesLost === 0 ? '' : ` (in ${plural(report.recycledFilesLost, 'recycled file')}, lost sectors read as the file's old content)`),
        ]),
    `  cut off at recovery:   ${plural(report.bytesCutOff, 'byte')} (${plural(report.framesCutOff, 'checksummed frame')})`,
  ]
  const lines = [
    `crash-test report (seed ${report.seed})`,
    ...(report.snapshotRounds > 0 ? snapshotLines(report) : logLines),
    `  violations:            ${report.violations.length}`,
    `  duration:              ${(report.durationMs / 1000).toFixed(1)} s`,
    `  directory:             ${dir}`,
  ]
  for (const violation of report.violations.slice(0, 20)) {
    lines.push(`  round ${violation.round}${violation.index === undefined ? '' : `, index ${violation.index}`}: ${violation.problem}`)
  }
  if (report.violations.length > 20) lines.push(`  … and ${report.violations.length - 20} more`)
  lines.push(report.violations.length === 0 ? 'PASS' : `FAIL: replay with raftlog crash-test --seed ${report.seed} (and the same options)`)
  console.log(lines.join('\n'))
}

/** One line per engine round, unless --json. */
function engineProgress(rounds: number, quiet: boolean): (round: EngineRoundResult) => void {
  return (round) => {
    if (quiet) return
    const how = round.killer === 'outside' ? 'from outside' : `at ${round.killStep ?? '?'}`
    process.stderr.write(`round ${round.round}/${rounds}: ${round.kind} ${how}: ${round.entries} entries held, ${plural(round.cutBytes, 'byte')} cut, ${plural(round.violations.length, 'violation')}\n`)
  }
}

function printEngineReport(report: EngineCrashReport, dir: string): void {
  const steps = report.killSteps
  const lines = [
    `crash-test report, log engine (seed ${report.seed})`,
    `  rounds:                ${report.rounds} (${report.killRounds} kill, ${report.powerLossRounds} power-loss; ${report.outsideKillRounds} killed from outside)`,
    `  killed itself:         ${steps['after-stage']} after staging, ${steps['during-flush']} during a flush, ${steps['before-acknowledge']} before acknowledging, ${steps['during-purge']} inside a purge`,
    `  changes acknowledged:  ${report.changesAcknowledged}`,
    `  entries at the end:    ${report.entriesRecovered}`,
    ...(report.powerLossRounds === 0 ? [] : [`  lost to power loss:    ${plural(report.bytesLost, 'byte')} written after the last flush`]),
    `  cut off at recovery:   ${plural(report.bytesCutOff, 'byte')}`,
    `  violations:            ${report.violations.length}`,
    `  duration:              ${(report.durationMs / 1000).toFixed(1)} s`,
    `  directory:             ${dir}`,
  ]
  for (const violation of report.violations.slice(0, 20)) lines.push(`  round ${violation.round}${violation.group === undefined ? '' : `, group ${violation.group}`}: ${violation.problem}`)
  if (report.violations.length > 20) lines.push(`  … and ${report.violations.length - 20} more`)
  lines.push(report.violations.length === 0 ? 'PASS' : `FAIL: replay with raftlog crash-test --engine --seed ${report.seed} (and the same options)`)
  console.log(lines.join('\n'))
}

export const crashTestCommand: Command = {
  name: 'crash-test',
  summary: 'Crash a writer repeatedly (kill -9, simulated power loss) and check recovery',
  help,
  async run(args) {
    const { values } = parseArgs({
      args,
      options: {
        dir: { type: 'string' },
        rounds: { type: 'string' },
        seed: { type: 'string' },
        mode: { type: 'string' },
        'entry-size': { type: 'string' },
        batch: { type: 'string' },
        'segment-size': { type: 'string' },
        'recycled-segments': { type: 'string' },
        'kill-from': { type: 'string' },
        keep: { type: 'boolean' },
        json: { type: 'boolean' },
        'broken-writer': { type: 'boolean' },
        engine: { type: 'boolean' },
        groups: { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    })
    const rounds = parseWholeNumber('--rounds', values.rounds, 20)
    const seed = parseWholeNumber('--seed', values.seed, Math.floor(Math.random() * 2 ** 31), 0)
    const mode = parseMode(values.mode)
    const killers = parseKillers(values['kill-from'])
    const entrySize = parseEntrySize(values['entry-size'])
    const batch = parseWholeNumber('--batch', values.batch, 16)
    const segmentSize = parseWholeNumber('--segment-size', values['segment-size'], mode === 'snapshot' ? 4096 : 65536)
    if (segmentSize % pageSizeBytes() !== 0) throw new UsageError(`--segment-size must be a multiple of ${pageSizeBytes()}, got ${segmentSize}`)
    const recycledSegments = values['recycled-segments'] === undefined ? undefined : parseWholeNumber('--recycled-segments', values['recycled-segments'], 0, 0)
    if (recycledSegments !== undefined && recycledSegments > maxRecycledSegments) throw new UsageError(`--recycled-segments must be 0 to ${maxRecycledSegments}, got ${recycledSegments}`)
    if (recycledSegments !== undefined && (values.engine === true || mode === 'snapshot')) throw new UsageError('--recycled-segments is for kill, power-loss, both and corrupt rounds of RaftLog')
    if (values.engine !== true && values.groups !== undefined) throw new UsageError('--groups is for an --engine run')
    if (values.engine === true && mode !== 'kill' && mode !== 'power-loss' && mode !== 'both') throw new UsageError(`--engine runs kill, power-loss or both rounds, not ${mode}`)
    const groups = parseWholeNumber('--groups', values.groups, 48)
    const { dir, temporary } = prepareDirectory(values.dir)
    const json = values.json === true
    if (values.engine === true) {
      if (!json) console.error(`crash-test: ${plural(rounds, 'round')} of the log engine with ${plural(groups, 'group')}, mode ${mode}, seed ${seed}, in ${dir}`)
      const report = await runEngineCrashTest({
        dir,
        rounds,
        seed,
        mode: mode as 'kill' | 'power-loss' | 'both',
        groups,
        fileSize: segmentSize,
        entrySize,
        brokenWriter: values['broken-writer'] === true,
        onRound: engineProgress(rounds, json),
      })
      if (json) console.log(JSON.stringify({ ...report, dir, pass: report.violations.length === 0 }, null, 2))
      else printEngineReport(report, dir)
      if (temporary && values.keep !== true && report.violations.length === 0) rmSync(dir, { recursive: true, force: true })
      return report.violations.length === 0 ? 0 : 1
    }
    if (!json) console.error(`crash-test: ${plural(rounds, 'round')}, mode ${mode}, seed ${seed}, in ${dir}`)
    const report = await runCrashTest({
      dir,
      rounds,
      seed,
      mode,
      entrySize,
      batch,
      segmentSize,
      ...(recycledSegments === undefined ? {} : { recycledSegments }),
      brokenWriter: values['broken-writer'] === true,
      killers,
      onRound: progressReporter(rounds, json),
    })
    if (json) console.log(JSON.stringify({ ...report, dir, pass: report.violations.length === 0 }, null, 2))
    else printReport(report, dir)
    if (temporary && values.keep !== true && report.violations.length === 0) rmSync(dir, { recursive: true, force: true })
    return report.violations.length === 0 ? 0 : 1
  },
}
