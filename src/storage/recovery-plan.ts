// What open() does with a directory of segment files, decided before it writes a byte: the files
// it deletes, what it cuts from the open segments, the last file it starts afresh, or the damage
// for which it refuses the whole log and changes nothing. Pure: RaftLog.open() carries the plan
// out; `raftlog verify` and `raftlog repair` report it. The per-file rule is recovery-rule.ts.
import { flagResetBase, flagSealed } from './segment-format.js'
import type { FrameDamage, HeaderVerdict, OpenSegmentWalk } from './recovery-rule.js'

export interface SegmentFacts {
  name: string
  /** The base index the file's name carries. */
  nameBase: number
  verdict: HeaderVerdict
  /** The walk of a written, open segment's frames; asked only of the segments recovery keeps. */
  walk(): OpenSegmentWalk
}

/** Why recovery refuses a log: the first damage, by file, byte offset and index. */
export interface Damage extends FrameDamage {
  file: string
  code: 'ERR_CORRUPT' | 'ERR_UNSUPPORTED_VERSION'
}

export interface KeptSegment {
  name: string
  baseIndex: number
  /** The index after its last entry. */
  nextIndex: number
  sealed: boolean
  /** For an open segment: its frames, and what recovery cuts after them. */
  walk: OpenSegmentWalk | undefined
}

export interface RecoveryPlan {
  kind: 'plan'
  /**
   * Files to delete, in this order: those after the end of what can have been acknowledged
   * (newest first), then leftovers of an interrupted reset() (oldest first).
   */
  removals: { name: string; reason: 'unacknowledged' | 'below reset' }[]
  /** The segments kept, oldest first. */
  kept: KeptSegment[]
  /** The last file, whose header was never written: started afresh (made anew when shorter than a header). */
  fresh: { name: string; recreate: boolean } | undefined
}

export type RecoveryOutcome = RecoveryPlan | { kind: 'damage'; damage: Damage }

export function planRecovery(files: readonly SegmentFacts[]): RecoveryOutcome {
  // A header is written whole (one sector), so no crash leaves a damaged one, wherever it is.
  for (const file of files) {
    const { verdict } = file
    if (verdict.kind === 'damaged') return refuse(file.name, 0, file.nameBase, verdict.problem, verdict.code)
    if (verdict.kind === 'written' && verdict.header.baseIndex !== file.nameBase) {
      return refuse(file.name, 8, file.nameBase, `its header says base index ${verdict.header.baseIndex} but its name says ${file.nameBase}`)
    }
  }
  // A rotation's header cut short by a kill is the last thing that process did, after a segment it
  // filled: anywhere else it is damage.
  const torn = files.findIndex((file) => file.verdict.kind === 'never written' && file.verdict.cutShort === 'rotation')
  if (torn !== -1 && (torn === 0 || torn !== files.length - 1)) {
    const file = files[torn] as SegmentFacts
    const verdict = file.verdict as HeaderVerdict & { kind: 'never written' }
    return refuse(file.name, 0, file.nameBase, verdict.problem ?? 'header damaged')
  }
  // reset() makes its segment durable before it deletes the old ones: all below the newest are leftovers.
  const resetAt = findLastIndex(files, (file) => hasFlag(file, flagResetBase))
  const belowReset = resetAt > 0 ? files.slice(0, resetAt) : []
  let rest = resetAt > 0 ? files.slice(resetAt) : files.slice()
  let after: SegmentFacts[] = []
  // A header never written was never synced, and every flush syncs the headers of all the segments
  // it covers: nothing in that file or after it was acknowledged (two rotations, then a crash).
  const unwritten = rest.findIndex((file) => file.verdict.kind === 'never written')
  if (unwritten !== -1 && unwritten < rest.length - 1) {
    const file = rest[unwritten] as SegmentFacts
    after = rest.slice(unwritten + 1)
    const sealed = after.find((later) => hasFlag(later, flagSealed))
    if (sealed !== undefined) {
      return refuse(file.name, 0, file.nameBase, `header never written, but ${sealed.name} after it is sealed: the flush that sealed it synced this header first`)
    }
    rest = rest.slice(0, unwritten + 1)
  }
  const kept: KeptSegment[] = []
  let fresh: RecoveryPlan['fresh']
  for (let position = 0; position < rest.length; position++) {
    const file = rest[position] as SegmentFacts
    const previous = kept[kept.length - 1]
    if (previous !== undefined && file.nameBase !== previous.nextIndex) {
      const remaining = [...rest.slice(position), ...after]
      const damage = checkGap(previous, file, remaining)
      if (damage !== undefined) return { kind: 'damage', damage }
      after = remaining
      break
    }
    const { verdict } = file
    if (verdict.kind === 'never written') {
      fresh = { name: file.name, recreate: verdict.shorterThanHeader }
      break
    }
    if (verdict.kind !== 'written') throw new Error('raftlog invariant failed: damaged headers were refused above')
    const { header } = verdict
    if ((header.flags & flagSealed) !== 0) {
      kept.push({ name: file.name, baseIndex: header.baseIndex, nextIndex: header.baseIndex + header.entryCount, sealed: true, walk: undefined })
      continue
    }
    const walk = file.walk()
    if (walk.damage !== undefined) return refuse(file.name, walk.damage.offset, walk.damage.index, walk.damage.problem)
    kept.push({ name: file.name, baseIndex: header.baseIndex, nextIndex: header.baseIndex + walk.frames, sealed: false, walk })
  }
  return {
    kind: 'plan',
    removals: [
      ...after.reverse().map((file) => ({ name: file.name, reason: 'unacknowledged' as const })),
      ...belowReset.map((file) => ({ name: file.name, reason: 'below reset' as const })),
    ],
    kept,
    fresh,
  }
}

/**
 * A file that does not start where the kept log ends. After a sealed segment that is a missing
 * file; an overlap is never a crash's doing. After an open segment whose frames end early, the
 * later files hold nothing acknowledged (a flush syncs every segment it covers, in one go) unless
 * one of them is sealed: a seal comes after its flush synced everything before it.
 */
function checkGap(previous: KeptSegment, file: SegmentFacts, remaining: SegmentFacts[]): Damage | undefined {
  if (file.nameBase < previous.nextIndex) {
    return damage(file.name, 0, file.nameBase, `overlaps ${previous.name}, which ends at index ${previous.nextIndex - 1}`)
  }
  if (previous.sealed) {
    return damage(file.name, 0, previous.nextIndex, `a segment is missing: entries ${previous.nextIndex}..${file.nameBase - 1} are in no file`)
  }
  const sealed = remaining.find((later) => hasFlag(later, flagSealed))
  if (sealed === undefined) return undefined
  const walk = previous.walk as OpenSegmentWalk
  return damage(previous.name, walk.end, previous.nextIndex, `frames end here (${walk.ending}), but ${sealed.name} after it is sealed: the flush that sealed it synced these frames first`)
}

function hasFlag(file: SegmentFacts, flag: number): boolean {
  return file.verdict.kind === 'written' && (file.verdict.header.flags & flag) !== 0
}

function findLastIndex<T>(items: readonly T[], test: (item: T) => boolean): number {
  for (let position = items.length - 1; position >= 0; position--) if (test(items[position] as T)) return position
  return -1
}

function damage(file: string, offset: number, index: number, problem: string, code: Damage['code'] = 'ERR_CORRUPT'): Damage {
  return { file, offset, index, problem, code }
}

function refuse(file: string, offset: number, index: number, problem: string, code: Damage['code'] = 'ERR_CORRUPT'): RecoveryOutcome {
  return { kind: 'damage', damage: damage(file, offset, index, problem, code) }
}
