// Many Raft groups on one node: the shared LogEngine (one directory, one fdatasync per turn for
// every group) against the naive design, one RaftLog per group (one fdatasync per group per turn).
// A turn is what a multi-group driver does each loop: every group appends one 100 B entry, then
// the turn is made durable. Measured: appends/s (entries made durable per second, all groups) and
// flushes/s (fdatasync calls per second).
import { mkdtempSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { LogEngine } from '../src/engine/log-engine.js'
import { RaftLog } from '../src/storage/raft-log.js'

export interface ManyGroupsSizes {
  groupCounts: number[]
  /** Each case runs whole turns for at least this long (and at least one turn). */
  timeMs: number
  /** Segment size of each RaftLog: small, since 1,024 logs of the default 64 MiB would take 64 GiB. */
  raftLogSegmentBytes: number
  /** Engine file size. */
  engineFileBytes: number
}

export interface ManyGroupsRow {
  groups: number
  design: 'engine' | 'RaftLog per group'
  turns: number
  appendsPerSecond: number
  flushesPerSecond: number
}

const payloadBytes = 100
const silent = { warn() {} }

export function manyGroupsSizesFor(mode: 'full' | 'quick' | 'tiny'): ManyGroupsSizes {
  if (mode === 'tiny') return { groupCounts: [1, 8], timeMs: 20, raftLogSegmentBytes: 64 * 1024, engineFileBytes: 256 * 1024 }
  if (mode === 'quick') return { groupCounts: [1, 64, 1024], timeMs: 300, raftLogSegmentBytes: 256 * 1024, engineFileBytes: 4 * 2 ** 20 }
  return { groupCounts: [1, 64, 1024], timeMs: 1500, raftLogSegmentBytes: 256 * 1024, engineFileBytes: 4 * 2 ** 20 }
}

/** Runs both designs at each group count; rows in pairs, engine first. */
export async function runManyGroups(workDir: string, sizes: ManyGroupsSizes): Promise<ManyGroupsRow[]> {
  const rows: ManyGroupsRow[] = []
  for (const groups of sizes.groupCounts) {
    rows.push(await engineCase(workDir, groups, sizes))
    rows.push(await raftLogsCase(workDir, groups, sizes))
  }
  return rows
}

async function engineCase(workDir: string, groups: number, sizes: ManyGroupsSizes): Promise<ManyGroupsRow> {
  const dir = mkdtempSync(join(workDir, 'engine-'))
  const engine = LogEngine.open(dir, { fileSize: sizes.engineFileBytes, logger: silent })
  try {
    for (let group = 1; group <= groups; group++) engine.createGroup(group)
    await engine.flush()
    const entry = [{ term: 1, data: new Uint8Array(payloadBytes).fill(1) }]
    const flushesBefore = engine.stats.flushes
    const { turns, seconds } = await timeTurns(sizes.timeMs, async () => {
      for (let group = 1; group <= groups; group++) engine.append(group, entry)
      await engine.flush()
      // Keep the directory bounded as a node would: compact what is durable, free what no group needs.
      if (engine.lastIndex(1) % 256 === 0) {
        for (let group = 1; group <= groups; group++) engine.compact(group, engine.lastIndex(group))
        engine.purge()
      }
    })
    return { groups, design: 'engine', turns, appendsPerSecond: (turns * groups) / seconds, flushesPerSecond: (engine.stats.flushes - flushesBefore) / seconds }
  } finally {
    engine.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

async function raftLogsCase(workDir: string, groups: number, sizes: ManyGroupsSizes): Promise<ManyGroupsRow> {
  const root = mkdtempSync(join(workDir, 'raftlogs-'))
  const logs: RaftLog[] = []
  try {
    for (let group = 1; group <= groups; group++) logs.push(RaftLog.open(join(root, String(group)), { segmentSize: sizes.raftLogSegmentBytes, logger: silent }))
    const entry = [{ term: 1, data: new Uint8Array(payloadBytes).fill(1) }]
    const flushesBefore = logs.reduce((sum, log) => sum + log.stats.flushes, 0)
    const { turns, seconds } = await timeTurns(sizes.timeMs, async () => {
      for (const log of logs) log.append(entry)
      // Every group's flush at once, as independent nodes' drivers would: their fdatasyncs overlap on the thread pool.
      await Promise.all(logs.map((log) => log.flush()))
      if ((logs[0] as RaftLog).lastIndex % 256 === 0) for (const log of logs) log.compact(log.lastIndex)
    })
    const flushes = logs.reduce((sum, log) => sum + log.stats.flushes, 0) - flushesBefore
    return { groups, design: 'RaftLog per group', turns, appendsPerSecond: (turns * groups) / seconds, flushesPerSecond: flushes / seconds }
  } finally {
    for (const log of logs) log.close()
    rmSync(root, { recursive: true, force: true })
  }
}

/** Runs `turn` until `timeMs` passed (at least once); returns the turns and the seconds they took. */
async function timeTurns(timeMs: number, turn: () => Promise<void>): Promise<{ turns: number; seconds: number }> {
  const started = performance.now()
  let turns = 0
  do {
    await turn()
    turns++
  } while (performance.now() - started < timeMs)
  return { turns, seconds: (performance.now() - started) / 1000 }
}

/** The Markdown table of the rows, with the engine's ratio over one RaftLog per group. */
export function manyGroupsMarkdown(rows: ManyGroupsRow[]): string {
  const lines = ['| groups | design | turns | appends/s | flushes/s | engine × appends/s |', '| ---: | --- | ---: | ---: | ---: | ---: |']
  for (const row of rows) {
    const engine = rows.find((other) => other.groups === row.groups && other.design === 'engine')
    const ratio = row.design === 'engine' || engine === undefined ? '' : `${(engine.appendsPerSecond / row.appendsPerSecond).toFixed(1)}×`
    lines.push(`| ${row.groups} | ${row.design} | ${row.turns} | ${Math.round(row.appendsPerSecond).toLocaleString('en-US')} | ${Math.round(row.flushesPerSecond).toLocaleString('en-US')} | ${ratio} |`)
  }
  return lines.join('\n')
}
