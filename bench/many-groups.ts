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
  /** Each design runs whole turns for about this long per case, in slices taken in turn with the other (at least one turn a slice). */
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

/** Slices each case's time is cut into, the two designs taking turns: a disk shared with other work drifts, and both see the drift. */
const slices = 5

/** Runs both designs at each group count; rows in pairs, engine first. */
export async function runManyGroups(workDir: string, sizes: ManyGroupsSizes): Promise<ManyGroupsRow[]> {
  const rows: ManyGroupsRow[] = []
  for (const groups of sizes.groupCounts) {
    const designs = [openEngine(workDir, groups, sizes), openRaftLogs(workDir, groups, sizes)]
    try {
      const totals = designs.map(() => ({ turns: 0, seconds: 0, flushes: 0 }))
      for (let slice = 0; slice < slices; slice++) {
        for (const [position, design] of designs.entries()) {
          const total = totals[position]!
          const flushesBefore = design.flushes()
          const { turns, seconds } = await timeTurns(sizes.timeMs / slices, design.turn)
          total.turns += turns
          total.seconds += seconds
          total.flushes += design.flushes() - flushesBefore
        }
      }
      for (const [position, design] of designs.entries()) {
        const { turns, seconds, flushes } = totals[position]!
        rows.push({ groups, design: design.name, turns, appendsPerSecond: (turns * groups) / seconds, flushesPerSecond: flushes / seconds })
      }
    } finally {
      for (const design of designs) design.close()
    }
  }
  return rows
}

interface Design {
  name: ManyGroupsRow['design']
  /** One turn: every group appends one entry, then the turn is made durable. */
  turn: () => Promise<void>
  /** fdatasync calls so far. */
  flushes: () => number
  close: () => void
}

function openEngine(workDir: string, groups: number, sizes: ManyGroupsSizes): Design {
  const dir = mkdtempSync(join(workDir, 'engine-'))
  const engine = LogEngine.open(dir, { fileSize: sizes.engineFileBytes, logger: silent })
  for (let group = 1; group <= groups; group++) engine.createGroup(group)
  engine.flushSync()
  const entry = [{ term: 1, data: new Uint8Array(payloadBytes).fill(1) }]
  return {
    name: 'engine',
    async turn() {
      for (let group = 1; group <= groups; group++) engine.append(group, entry)
      await engine.flush()
      // Keep the directory bounded as a node would: compact what is durable, free what no group needs.
      if (engine.lastIndex(1) % 256 === 0) {
        for (let group = 1; group <= groups; group++) engine.compact(group, engine.lastIndex(group))
        engine.purge()
      }
    },
    flushes: () => engine.stats.flushes,
    close() {
      engine.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

function openRaftLogs(workDir: string, groups: number, sizes: ManyGroupsSizes): Design {
  const root = mkdtempSync(join(workDir, 'raftlogs-'))
  const logs: RaftLog[] = []
  for (let group = 1; group <= groups; group++) logs.push(RaftLog.open(join(root, String(group)), { segmentSize: sizes.raftLogSegmentBytes, logger: silent }))
  const entry = [{ term: 1, data: new Uint8Array(payloadBytes).fill(1) }]
  return {
    name: 'RaftLog per group',
    async turn() {
      for (const log of logs) log.append(entry)
      // Every group's flush at once, as independent nodes' drivers would: their fdatasyncs overlap on the thread pool.
      await Promise.all(logs.map((log) => log.flush()))
      if ((logs[0] as RaftLog).lastIndex % 256 === 0) for (const log of logs) log.compact(log.lastIndex)
    },
    flushes: () => logs.reduce((sum, log) => sum + log.stats.flushes, 0),
    close() {
      for (const log of logs) log.close()
      rmSync(root, { recursive: true, force: true })
    },
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
