// Every segment of a log directory read by the recovery rule, and the plan open() would make of
// them (src/storage/recovery-plan.ts): what it would refuse, cut, delete or start afresh, and
// what reading would find damaged besides. `verify` reports it, `dump` prints by it, `repair`
// cuts by it. Reads only, and takes no lock: the callers decide about that.
import { planRecovery, type RecoveryOutcome } from '../storage/recovery-plan.js'
import type { OpenSegmentWalk } from '../storage/recovery-rule.js'
import { checkPreviousTerm, scanSegment, segmentFiles, type Problem, type SegmentScan } from './log-reader.js'

/** What open() would cut off the end of one open segment. */
export interface Cut {
  file: string
  offset: number
  /** The index the cut frames would have had (the first not kept). */
  index: number
  bytes: number
  frames: number
  why: string
}

export interface LogCheck {
  scans: SegmentScan[]
  /** open()'s plan, or the damage for which it would refuse the log. */
  outcome: RecoveryOutcome
  /** Everything wrong, earliest first (by file, then byte): what open() refuses and what reads would. */
  problems: Problem[]
  /** What open() would cut, delete and start afresh: normal after a crash, not problems. */
  cuts: Cut[]
  removals: { file: string; reason: 'unacknowledged' | 'below reset' }[]
  fresh: string | undefined
  /** The entries open() would give (the readable ones when it would refuse). */
  entries: number
  firstIndex: number | undefined
  lastIndex: number | undefined
}

export function checkLog(dir: string, onSegment?: (done: number, total: number) => void): LogCheck {
  const files = segmentFiles(dir)
  const scans = files.map((file, position) => {
    const scan = scanSegment(dir, file)
    onSegment?.(position + 1, files.length)
    return scan
  })
  const byName = new Map(scans.map((scan) => [scan.file, scan]))
  const outcome = planRecovery(scans.map((scan) => ({ name: scan.file, nameBase: scan.baseIndex, verdict: scan.verdict, walk: () => scan.walk as OpenSegmentWalk })))
  return outcome.kind === 'damage' ? refused(scans, outcome) : recovered(scans, outcome, byName)
}

function recovered(scans: SegmentScan[], outcome: RecoveryOutcome & { kind: 'plan' }, byName: Map<string, SegmentScan>): LogCheck {
  const kept = outcome.kept.map((segment) => byName.get(segment.name) as SegmentScan)
  // What open() accepts can still hold damage only reads find: frames of sealed segments.
  const problems = kept.flatMap((scan) => scan.problems)
  kept.slice(1).forEach((scan, position) => {
    const problem = scan.resetBase ? undefined : checkPreviousTerm(kept[position] as SegmentScan, scan)
    if (problem !== undefined) problems.push(problem)
  })
  const cuts: Cut[] = []
  for (const segment of outcome.kept) {
    const walk = segment.walk
    if (walk === undefined || (walk.cutBytes === 0 && walk.cutFrames === 0)) continue
    cuts.push({ file: segment.name, offset: walk.end, index: segment.nextIndex, bytes: walk.cutBytes, frames: walk.cutFrames, why: walk.ending })
  }
  const first = outcome.kept[0]
  const last = outcome.kept.at(-1)
  const freshBase = outcome.fresh === undefined ? undefined : (byName.get(outcome.fresh.name) as SegmentScan).baseIndex
  return {
    scans,
    outcome,
    problems: sortProblems(scans, problems),
    cuts,
    removals: outcome.removals.map((removal) => ({ file: removal.name, reason: removal.reason })),
    fresh: outcome.fresh?.name,
    // Readable ones: a frame of a sealed segment that fails its checksum is kept by open() but not readable.
    entries: kept.reduce((sum, scan) => sum + scan.frames.length, 0),
    firstIndex: first?.baseIndex ?? freshBase,
    lastIndex: last !== undefined ? last.nextIndex - 1 : freshBase === undefined ? undefined : freshBase - 1,
  }
}

function refused(scans: SegmentScan[], outcome: RecoveryOutcome & { kind: 'damage' }): LogCheck {
  const { file, offset, index, problem } = outcome.damage
  const damage: Problem = { file, offset, index, problem }
  const same = (other: Problem): boolean => other.file === file && other.offset === offset && other.problem === problem
  const problems = [damage, ...scans.flatMap((scan) => scan.problems).filter((other) => !same(other))]
  const last = scans.at(-1)
  return {
    scans,
    outcome,
    problems: sortProblems(scans, problems),
    cuts: [],
    removals: [],
    fresh: undefined,
    entries: scans.reduce((sum, scan) => sum + scan.frames.length, 0),
    firstIndex: scans[0]?.baseIndex,
    lastIndex: last === undefined ? undefined : last.baseIndex + last.frames.length - 1,
  }
}

function sortProblems(scans: SegmentScan[], problems: Problem[]): Problem[] {
  const order = new Map(scans.map((scan, position) => [scan.file, position]))
  return problems.sort((a, b) => (order.get(a.file) ?? -1) - (order.get(b.file) ?? -1) || a.offset - b.offset)
}
