// An in-memory RaftLogStore that knows what a crash would lose: appends are volatile until
// flush(), truncations, compactions and resets are durable at once (as RaftLog's are). For the
// simulator and for tests.
import { EntryType, type LogEntry, type NewEntry } from '../storage/log-entry.js'
import type { RaftLogStore } from '../raft/core/log-store.js'

/**
 * A RaftLogStore in memory, for the simulator: what was flushed survives a simulated crash, and
 * perhaps a prefix of what was not.
 */
export class MemoryLogStore implements RaftLogStore {
  private entries: LogEntry[] = []
  /** Index of entries[0]. */
  private base = 1
  /** Term of entry base − 1. */
  private prevTerm = 0
  private durableCount = 0
  /**
   * Entries the disk still has room for (Infinity: no limit). An append of more, or any reset
   * once it is 0, throws ENOSPC and changes nothing (as RaftLog's do when no new segment can be
   * made); truncations and compactions go on.
   */
  room = Number.POSITIVE_INFINITY

  /** The disk is full: no room for one more entry. */
  get full(): boolean {
    return this.room === 0
  }

  set full(full: boolean) {
    this.room = full ? 0 : Number.POSITIVE_INFINITY
  }

  get firstIndex(): number {
    return this.base
  }

  get lastIndex(): number {
    return this.base + this.entries.length - 1
  }

  /** The last entry a crash keeps for certain (flushed). */
  get durableLastIndex(): number {
    return this.base + this.durableCount - 1
  }

  get lastTerm(): number {
    return this.entries[this.entries.length - 1]?.term ?? this.prevTerm
  }

  termAt(index: number): number | undefined {
    if (index === this.base - 1) return this.prevTerm
    return this.entries[index - this.base]?.term
  }

  slice(from: number, to = this.lastIndex + 1, options: { maxBytes?: number } = {}): LogEntry[] {
    if (from < this.base && from < to) throw new Error(`index ${from} is compacted: the log starts at ${this.base}`)
    const out: LogEntry[] = []
    let bytes = 0
    for (let index = from; index < to; index++) {
      const entry = this.entries[index - this.base]
      if (entry === undefined) break
      bytes += entry.data.length
      if (options.maxBytes !== undefined && bytes > options.maxBytes && out.length > 0) break
      out.push(entry)
    }
    return out
  }

  append(entries: readonly NewEntry[]): number {
    if (entries.length > this.room) throw noSpace('append')
    this.room -= entries.length
    for (const entry of entries) {
      if (entry.term < this.lastTerm) throw new Error(`term ${entry.term} after ${this.lastTerm}`)
      this.entries.push({ index: this.lastIndex + 1, term: entry.term, type: entry.type ?? EntryType.Normal, data: entry.data ?? new Uint8Array(0) })
    }
    return this.lastIndex
  }

  truncateAfter(index: number): void {
    const keep = Math.max(0, index + 1 - this.base)
    this.entries.length = Math.min(this.entries.length, keep)
    this.durableCount = Math.min(this.durableCount, keep)
  }

  /** Drops the entries up to `upTo` (RaftLog drops whole segments; here any prefix will do). */
  compact(upTo: number): void {
    const drop = Math.min(upTo + 1 - this.base, this.durableCount)
    if (drop <= 0) return
    this.prevTerm = (this.entries[drop - 1] as LogEntry).term
    this.entries = this.entries.slice(drop)
    this.base += drop
    this.durableCount -= drop
  }

  reset(nextIndex: number, prevTerm: number): void {
    if (this.full) throw noSpace('reset')
    this.entries = []
    this.base = nextIndex
    this.prevTerm = prevTerm
    this.durableCount = 0
  }

  /** Everything appended so far becomes durable. */
  flush(): void {
    this.durableCount = this.entries.length
  }

  /**
   * Starts a flush that completes later (completeFlush): it covers the entries held now, and
   * only those still in the log when it completes (a truncation meanwhile may replace them).
   */
  beginFlush(): readonly LogEntry[] {
    return this.entries.slice()
  }

  completeFlush(covered: readonly LogEntry[]): void {
    // Covered entries compacted away meanwhile were durable already; the rest count only while
    // they are still the same entries (not replaced by a truncation or a reset).
    const skip = covered.length === 0 ? 0 : Math.max(0, this.base - (covered[0] as LogEntry).index)
    let same = 0
    while (skip + same < covered.length && this.entries[same] === covered[skip + same]) same++
    this.durableCount = Math.max(this.durableCount, same)
  }

  /** Entries appended but not yet durable. */
  get unflushedCount(): number {
    return this.entries.length - this.durableCount
  }

  /**
   * A crash: what was never flushed is gone, except `survivors` entries after the durable ones
   * (the kernel may write back part of what was appended, always a prefix after recovery).
   */
  crash(survivors = 0): void {
    this.entries.length = Math.min(this.entries.length, this.durableCount + survivors)
    this.durableCount = this.entries.length
  }
}

function noSpace(call: string): Error {
  return Object.assign(new Error(`ENOSPC: no space left on device (MemoryLogStore.${call})`), { code: 'ENOSPC' })
}
