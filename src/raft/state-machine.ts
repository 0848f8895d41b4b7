// The extension point for the user's application: what a RaftNode applies committed entries to.
import type { LogEntry } from '../storage/log-entry.js'

/** What a snapshot covers: every entry up to `index`, whose term is `term`. */
export interface SnapshotInfo {
  /** The last entry the snapshot holds the effect of. */
  index: number
  /** That entry's term. */
  term: number
}

/**
 * The user's application. RaftNode feeds it every committed entry in log order; with snapshot()
 * and restore() (both or neither) the node also takes snapshots of it and compacts its log
 * behind them, so the log and the time to restart stay bounded (Raft §7).
 */
export interface StateMachine {
  /**
   * Applies one committed entry (EntryType.Normal; no-op and configuration entries are not
   * passed on). Its result resolves the propose() call that created the entry, on the node
   * where it was proposed. It may return a promise: the next entry waits for it, Raft does not.
   */
  apply(entry: LogEntry): unknown

  /**
   * The state as of the last entry applied when it is called: bytes, or chunks of bytes for a
   * large state. It is called between two applies, but its chunks may be read while later
   * entries are applied: capture what it needs when called (a copy, an immutable view), and do
   * not read live state lazily. The bytes are written to a checksummed snapshot file; restore()
   * gets them back in order, though not necessarily cut at the same places.
   */
  snapshot?(): Uint8Array | AsyncIterable<Uint8Array> | Promise<Uint8Array | AsyncIterable<Uint8Array>>

  /**
   * Replaces the whole state with a snapshot's bytes (at start, or when the leader sends one).
   * No apply() runs until it resolves; entries after `meta.index` are applied afterwards.
   */
  restore?(chunks: AsyncIterable<Uint8Array>, meta: SnapshotInfo): void | Promise<void>
}

/**
 * What is wrong with `machine`'s snapshot methods, or undefined: it must have both snapshot() and
 * restore() or neither, since a node that takes snapshots it cannot load again is stuck at its
 * next start after compaction (or at the first snapshot a leader sends it).
 */
export function halfSnapshotProblem(machine: Pick<StateMachine, 'snapshot' | 'restore'>): string | undefined {
  const snapshots = typeof machine.snapshot === 'function'
  if (snapshots === (typeof machine.restore === 'function')) return undefined
  return `has ${snapshots ? 'snapshot() but no restore()' : 'restore() but no snapshot()'}: give it both (the node then takes snapshots and compacts its log) or neither`
}
