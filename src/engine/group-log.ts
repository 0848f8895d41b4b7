// One group of a LogEngine seen as a single log, with RaftLog's methods (it satisfies the Raft
// core's RaftLogStore): what a group replica's driver hands its core.
import type { LogEntry, NewEntry } from '../storage/log-entry.js'
import type { GroupHardState } from './group-index.js'

/** What a GroupLog needs of its engine (LogEngine has these): every call names the group. */
export interface GroupLogEngine {
  firstIndex(id: number): number
  lastIndex(id: number): number
  lastTerm(id: number): number
  termAt(id: number, index: number): number | undefined
  get(id: number, index: number): LogEntry | undefined
  entries(id: number, from: number, to?: number, options?: { maxBytes?: number }): LogEntry[]
  append(id: number, entries: readonly NewEntry[]): number
  truncateAfter(id: number, index: number): void
  reset(id: number, nextIndex: number, prevTerm: number): void
  compact(id: number, upTo: number): void
  configIndexes(id: number, from?: number): number[]
  hardState(id: number): GroupHardState
  setHardState(id: number, state: GroupHardState): void
  flushSync(): void
}

/**
 * The log of group `id` in `engine`. append(), compact() and setHardState() are staged and made
 * durable by the engine's next flush; truncateAfter() and reset() flush before they return (the
 * RaftLogStore contract), which makes every other change staged before them durable too.
 */
export class GroupLog {
  constructor(
    readonly engine: GroupLogEngine,
    readonly id: number,
  ) {}

  get firstIndex(): number {
    return this.engine.firstIndex(this.id)
  }

  get lastIndex(): number {
    return this.engine.lastIndex(this.id)
  }

  get lastTerm(): number {
    return this.engine.lastTerm(this.id)
  }

  termAt(index: number): number | undefined {
    return this.engine.termAt(this.id, index)
  }

  get(index: number): LogEntry | undefined {
    return this.engine.get(this.id, index)
  }

  slice(from: number, to?: number, options?: { maxBytes?: number }): LogEntry[] {
    return this.engine.entries(this.id, from, to, options)
  }

  append(entries: readonly NewEntry[]): number {
    return this.engine.append(this.id, entries)
  }

  truncateAfter(index: number): void {
    this.engine.truncateAfter(this.id, index)
    this.engine.flushSync()
  }

  reset(nextIndex: number, prevTerm: number): void {
    this.engine.reset(this.id, nextIndex, prevTerm)
    this.engine.flushSync()
  }

  compact(upTo: number): void {
    this.engine.compact(this.id, upTo)
  }

  /** Indexes of its configuration entries from `from` on, ascending (without reading them). */
  configIndexes(from?: number): number[] {
    return this.engine.configIndexes(this.id, from)
  }

  get hardState(): GroupHardState {
    return this.engine.hardState(this.id)
  }

  setHardState(state: GroupHardState): void {
    this.engine.setHardState(this.id, state)
  }
}
