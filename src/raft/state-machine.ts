import type { LogEntry } from '../storage/log-entry.js'

/** The user's application, fed every committed entry in log order exactly once per start. */
export interface StateMachine {
  /**
   * Applies one committed entry (EntryType.Normal; no-op entries are not passed on). Its result
   * resolves the propose() call that created the entry, on the node where it was proposed.
   */
  apply(entry: LogEntry): unknown
}
