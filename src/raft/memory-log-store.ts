// An in-memory RaftLogStore that knows what a crash would lose: appends are volatile until
// flush(), truncations are durable at once (as RaftLog's are). For the simulator and for tests.
import { EntryType, type LogEntry, type NewEntry } from '../storage/log-entry.js'
import type { RaftLogStore } from './log-store.js'

export class MemoryLogStore implements RaftLogStore {
  private entries: LogEntry[] = []
  private durableCount = 0

  get firstIndex(): number {
    return 1
  }

  get lastIndex(): number {
    return this.entries.length
  }

  get lastTerm(): number {
    return this.entries[this.entries.length - 1]?.term ?? 0
  }

  termAt(index: number): number | undefined {
    if (index === 0) return 0
    return this.entries[index - 1]?.term
  }

  slice(from: number, to = this.lastIndex + 1, options: { maxBytes?: number } = {}): LogEntry[] {
    const out: LogEntry[] = []
    let bytes = 0
    for (let index = from; index < to; index++) {
      const entry = this.entries[index - 1]
      if (entry === undefined) break
      bytes += entry.data.length
      if (options.maxBytes !== undefined && bytes > options.maxBytes && out.length > 0) break
      out.push(entry)
    }
    return out
  }

  append(entries: readonly NewEntry[]): number {
    for (const entry of entries) {
      if (entry.term < this.lastTerm) throw new Error(`term ${entry.term} after ${this.lastTerm}`)
      this.entries.push({ index: this.entries.length + 1, term: entry.term, type: entry.type ?? EntryType.Normal, data: entry.data ?? new Uint8Array(0) })
    }
    return this.lastIndex
  }

  truncateAfter(index: number): void {
    this.entries.length = Math.min(this.entries.length, index)
    this.durableCount = Math.min(this.durableCount, index)
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
    let same = 0
    while (same < covered.length && this.entries[same] === covered[same]) same++
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
