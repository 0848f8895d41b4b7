// The configurations a node knows, by the index of the entry each takes effect at, oldest first:
// the one its snapshot (or its state file) holds, then every Config entry of its log after it.
// The latest is the one in use, committed or not (Raft dissertation §4.1); the older ones answer
// what was in force at an index (what a snapshot there holds) and which change is under way.
import { isJoint, membersOf, sameMembers, type Configuration } from './configuration.js'

/** A configuration and the index of the entry it takes effect at (0: from the first start). */
export interface ConfigurationAt {
  index: number
  config: Configuration
}

/**
 * The configurations a node knows, oldest first, by the index of the entry each takes effect at;
 * the latest is in use.
 */
export class ConfigurationHistory {
  private entries: ConfigurationAt[]

  /** `initial`: oldest first; never empty (a node that knows none starts from an empty one at 0). */
  constructor(initial: readonly ConfigurationAt[]) {
    if (initial.length === 0) throw new Error('raft invariant: a configuration history starts with one configuration')
    this.entries = initial.map((entry) => ({ ...entry }))
  }

  /** The configuration in use: the latest. */
  get latest(): Configuration {
    return this.last.config
  }

  /** Index of the latest configuration's entry. */
  get latestIndex(): number {
    return this.last.index
  }

  /** The configuration in force at `index` (the last one at or below it) and its entry's index. */
  entryAt(index: number): ConfigurationAt {
    let found = this.entries[0] as ConfigurationAt
    for (const entry of this.entries) if (entry.index <= index) found = entry
    return found
  }

  /**
   * The index from which `id` has been a member without a break, as far as the history reaches
   * (0: not a member of the latest).
   */
  memberSince(id: number): number {
    let since = 0
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const entry = this.entries[i] as ConfigurationAt
      if (!membersOf(entry.config).includes(id)) break
      since = entry.index
    }
    return since
  }

  /**
   * A Config entry at `index` is in the log now. False (nothing changes) when it is not newer
   * than the latest: a node that started from a committed configuration its log no longer
   * reaches receives the entries before it again, and those are old news.
   */
  append(index: number, config: Configuration): boolean {
    if (index <= this.latestIndex) return false
    this.entries.push({ index, config })
    return true
  }

  /** The log was cut after `index`: configurations of the removed entries go with them. True when any did. */
  cutAfter(index: number): boolean {
    const before = this.entries.length
    while (this.entries.length > 1 && this.last.index > index) this.entries.pop()
    return this.entries.length !== before
  }

  /** Forgets configurations older than the one in force at `index` (a snapshot there; they are never asked for again). */
  forgetBefore(index: number): void {
    const inForce = this.entries.findLastIndex((entry) => entry.index <= index)
    if (inForce > 0) this.entries.splice(0, inForce)
  }

  /** A snapshot replaced the log: its configuration is the only one known. */
  resetTo(index: number, config: Configuration): void {
    this.entries = [{ index, config }]
  }

  /**
   * Whether a membership change is still being carried out, given the commit index: the latest
   * configuration is joint, or not committed and with other members than the committed one (an
   * entry that only added the cluster token changes nobody's vote).
   */
  changeUnderWay(commitIndex: number): boolean {
    if (isJoint(this.latest)) return true
    if (this.latestIndex <= commitIndex) return false
    return !sameMembers(this.latest, this.entryAt(commitIndex).config)
  }

  /** Index of the first entry of the change under way: C_old,new's (or the latest configuration's). */
  changeStart(): number {
    const previous = this.entries[this.entries.length - 2]
    if (!isJoint(this.latest) && previous !== undefined && isJoint(previous.config)) return previous.index
    return this.latestIndex
  }

  /**
   * Members of the change under way that the latest configuration leaves out, `self` aside:
   * C_old's when the latest is C_old,new (a learner that leaves is already out of it); C_old,new's
   * and C_old's when the latest is C_new. Never those of an earlier change.
   */
  leavingMembers(self: number): number[] {
    const current = new Set(membersOf(this.latest))
    const count = this.entries.length
    const previous = this.entries[count - 2]
    const beforeThat = this.entries[count - 3]
    const change = previous === undefined ? [] : !isJoint(this.latest) && isJoint(previous.config) && beforeThat !== undefined ? [previous, beforeThat] : [previous]
    const earlier = change.flatMap((entry) => membersOf(entry.config))
    return [...new Set(earlier)].filter((id) => id !== self && !current.has(id))
  }

  private get last(): ConfigurationAt {
    return this.entries[this.entries.length - 1] as ConfigurationAt
  }
}
