// Rebuilding every group's index from the records of the files kept, in file order.
//
// Files are freed oldest first, so replay sees a suffix of the history: the records a group still
// needs (its live entries, its latest Compact or Reset, its latest HardState) are all there, but
// the first record seen of a group may be any record, at any index. Such a group is provisional
// until a Compact or Reset of it is replayed: that record sets its first index and the term before
// it, and every live entry is replayed after the records that made older ones dead. An entry that
// does not follow the group's entries can only come after dead ones: the group starts afresh at it,
// provisional again. A group still provisional at the end lost a record it needs: a file is missing.
import { RecordKind, type RecordFields } from './engine-format.js'
import { GroupIndex } from './group-index.js'

export class EngineReplay {
  readonly groups = new Map<number, GroupIndex>()
  /** Groups whose first index is not known yet. */
  private readonly provisional = new Set<number>()
  records = 0

  /** Applies one record of file `file` at byte `offset`. */
  apply(fields: RecordFields, file: number, offset: number, payloadLength: number): void {
    this.records++
    const { group: id, index, term } = fields
    if (fields.kind === RecordKind.Remove) {
      this.groups.delete(id)
      this.provisional.delete(id)
      return
    }
    const group = this.group(id)
    switch (fields.kind) {
      case RecordKind.Entry:
        if (index < group.first || index > group.last + 1) {
          group.reset(index, 0, group.stateFile)
          this.provisional.add(id)
        }
        group.putEntry(index, term, file, offset, payloadLength)
        return
      case RecordKind.Truncate:
        group.dropFrom(index + 1)
        return
      case RecordKind.Compact:
        group.compact(index, term, file)
        this.provisional.delete(id)
        return
      case RecordKind.Reset:
        group.reset(index, term, file)
        this.provisional.delete(id)
        return
      case RecordKind.HardState:
        group.setHardState({ term, vote: fields.vote, commit: index }, file)
        return
    }
  }

  /** Groups whose state record was never found: each means a needed file is gone. */
  unsettledGroups(): number[] {
    return [...this.provisional]
  }

  private group(id: number): GroupIndex {
    let group = this.groups.get(id)
    if (group === undefined) {
      group = new GroupIndex(id)
      this.groups.set(id, group)
      this.provisional.add(id)
    }
    return group
  }
}
