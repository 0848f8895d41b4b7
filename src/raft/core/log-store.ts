import type { LogEntry, NewEntry } from '../../storage/log-entry.js'

/**
 * The part of a log the consensus core uses. RaftLog implements it on disk; MemoryLogStore in
 * memory for the simulator. The core reads and changes the log through it but never waits on
 * it: making appends durable is the driver's job (Ready.mustFlush).
 */
export interface RaftLogStore {
  /** Index of the first entry held (1 for a new log; after compaction or a reset, later). */
  readonly firstIndex: number
  /** Index of the last entry held; firstIndex − 1 when the log is empty. */
  readonly lastIndex: number
  /** Term of the last entry; of entry firstIndex − 1 when empty; 0 when nothing ever was. */
  readonly lastTerm: number
  /**
   * Term of the entry at `index`, also answering firstIndex − 1 (the entry a snapshot or the
   * compaction left behind); undefined outside that range. Must not throw: the core asks it of
   * indexes a peer named.
   */
  termAt(index: number): number | undefined
  /**
   * Entries from `from` up to `to` (exclusive; default lastIndex + 1), their data safe to keep.
   * With maxBytes, stops before the entry that would pass it, but always returns the first.
   * Throws ERR_OUT_OF_RANGE for a range outside [firstIndex, lastIndex + 1].
   */
  slice(from: number, to?: number, options?: { maxBytes?: number }): LogEntry[]
  /**
   * Appends after lastIndex, each entry taking the next index; returns the new lastIndex. Not
   * durable yet: the driver flushes when Ready.mustFlush says so. Terms never go back. All or
   * nothing: when the disk has no room it throws an error whose code is ENOSPC (or EDQUOT), and
   * the log is as it was; the core then pauses (RaftCore.diskFull) instead of failing.
   */
  append(entries: readonly NewEntry[]): number
  /** Drops every entry after `index` (a conflict with the leader's log); durable when it returns. */
  truncateAfter(index: number): void
  /**
   * Empties the log so that its next entry is nextIndex, with termAt(nextIndex − 1) = prevTerm
   * (a snapshot was installed); durable when it returns. On a full disk it throws ENOSPC and
   * the log is as it was.
   */
  reset(nextIndex: number, prevTerm: number): void
}
