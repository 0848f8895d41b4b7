// Rebuilding every group's index from the records of the files kept, in file order.
//
// Files are freed oldest first, so replay sees a suffix of the history: the records a group still
// needs (its live entries, its latest Compact or Reset, its latest HardState) are all there, but
// the first record seen of a group may be any record, at any index, and the records of entries
// that died later may be gone. So replay keeps, for each group, a "known from" index k: the
// group's entries at k and after are exactly those replayed (an entry written at index i dropped
// every later one, so every later entry was written after it and is here), and those before k are
// unknown. Each record moves k as it can tell:
// - Entry i: when i is below k (or the group is new to replay), k becomes i;
// - Truncate after t: the entries after t are gone, so k can drop to t + 1;
// - Compact to f (the record also carries the group's last index L then): settles the group's
//   first index and the term before it; k rises to f when f ≥ k, or the group held nothing (L < f);
// - Reset: settles everything.
// At the end every group must be settled with nothing unknown between its first index and its
// last: otherwise a record it needs is gone, and that is damage (a missing file).
import { readU64 } from '../storage/segment-format.js'
import { EntryType } from '../storage/log-entry.js'
import { RecordKind, recordHeaderSizeBytes, type RecordFields } from './engine-format.js'
import { GroupIndex } from './group-index.js'

/** What replay knows of a group beside its index. */
interface GroupFacts {
  /** Nothing replayed yet tells k: the group's index holds nothing known. */
  fresh: boolean
  /** A Compact or Reset was replayed: first and prevTerm are the group's. */
  settled: boolean
  first: number
  prevTerm: number
  stateFile: number
  /** The group's last index, once a record told it. */
  last: number | undefined
}

export class EngineReplay {
  readonly groups = new Map<number, GroupIndex>()
  private readonly facts = new Map<number, GroupFacts>()
  records = 0

  /** Applies one record of file `file` at byte `offset` of `bytes`. */
  apply(fields: RecordFields, file: number, offset: number, bytes: Buffer): void {
    this.records++
    const { group: id, index, term } = fields
    if (fields.kind === RecordKind.Remove) {
      this.groups.delete(id)
      this.facts.delete(id)
      return
    }
    const group = this.group(id)
    const facts = this.facts.get(id) as GroupFacts
    switch (fields.kind) {
      case RecordKind.Entry:
        if (facts.fresh || index < group.first || index > group.last + 1) this.knownFrom(group, facts, index)
        group.putEntry(index, term, file, offset, bytes.readUInt32LE(offset), fields.entryType === EntryType.Config)
        facts.last = index
        return
      case RecordKind.Truncate:
        if (facts.fresh || index + 1 < group.first) this.knownFrom(group, facts, index + 1)
        else group.dropFrom(index + 1)
        facts.last = index
        return
      case RecordKind.Compact: {
        const lastThen = readU64(bytes, offset + recordHeaderSizeBytes)
        Object.assign(facts, { settled: true, first: index, prevTerm: term, stateFile: file, last: Math.max(lastThen, index - 1) })
        if (!facts.fresh && index >= group.first) group.compact(index, term, file)
        else if (lastThen < index) this.knownFrom(group, facts, index)
        return
      }
      case RecordKind.Reset:
        Object.assign(facts, { settled: true, first: index, prevTerm: term, stateFile: file, last: index - 1, fresh: false })
        group.reset(index, term, file)
        return
      case RecordKind.HardState:
        group.setHardState({ term, vote: fields.vote, commit: index }, file)
        return
    }
  }

  /**
   * Settles every group's first index and term before it; returns the groups that cannot be
   * settled (a record they need is gone).
   */
  finish(): number[] {
    const broken: number[] = []
    for (const [id, group] of this.groups) {
      const facts = this.facts.get(id) as GroupFacts
      const last = facts.last ?? facts.first - 1
      const unknownEnd = facts.fresh ? last + 1 : Math.min(group.first, last + 1)
      if (!facts.settled || unknownEnd > facts.first) {
        broken.push(id)
        continue
      }
      if (facts.fresh || group.first !== facts.first) {
        // Nothing between first and last: the group holds no entries.
        group.reset(facts.first, facts.prevTerm, facts.stateFile)
      } else {
        group.compact(facts.first, facts.prevTerm, facts.stateFile)
      }
    }
    return broken
  }

  /** From `index` on, the group's entries are known: none yet. */
  private knownFrom(group: GroupIndex, facts: GroupFacts, index: number): void {
    group.reset(index, 0, -1)
    facts.fresh = false
  }

  private group(id: number): GroupIndex {
    let group = this.groups.get(id)
    if (group === undefined) {
      group = new GroupIndex(id)
      this.groups.set(id, group)
      this.facts.set(id, { fresh: true, settled: false, first: 1, prevTerm: 0, stateFile: -1, last: undefined })
    }
    return group
  }
}
