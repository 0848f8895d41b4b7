import type { LogEntry, NewEntry } from '../../storage/log-entry.js'

/**
 * The part of a log the consensus core uses. RaftLog implements it on disk; MemoryLogStore in
 * memory for the simulator. The core reads and changes the log through it but never waits on
 * it: making appends durable is the driver's job (Ready.mustFlush).
 */
export interface RaftLogStore {
  readonly firstIndex: number
  readonly lastIndex: number
  readonly lastTerm: number
  termAt(index: number): number | undefined
  slice(from: number, to?: number, options?: { maxBytes?: number }): LogEntry[]
  append(entries: readonly NewEntry[]): number
  truncateAfter(index: number): void
  /** Empties the log so that its next entry is nextIndex, after termAt(nextIndex − 1) = prevTerm (a snapshot was installed). */
  reset(nextIndex: number, prevTerm: number): void
}
