/** What an entry is for; stored in each frame's type byte. */
export enum EntryType {
  /** A user command, handed to the state machine. */
  Normal = 0,
  /** The entry a new leader appends at the start of its term. */
  NoOp = 1,
  /** A cluster configuration change. */
  Config = 2,
}

/** One entry of the log, as reads return it. */
export interface LogEntry {
  index: number
  term: number
  type: EntryType
  /** A copy of the payload: safe to keep after the log changes or closes. */
  data: Uint8Array
}

/** What `RaftLog.append` takes: the log assigns the indexes. */
export interface NewEntry {
  term: number
  type?: EntryType
  data?: Uint8Array
}

/**
 * The largest term or index raftlog takes or writes: 2^52 - 1. Safe integers go to 2^53 - 1, and
 * a term must always have room to grow: one message carrying 2^53 - 1, persisted, would leave
 * every later election asking for a term no node accepts (no leader ever again). A term that
 * grows by one per election never gets near 2^52.
 */
export const maxTermOrIndex = 2 ** 52 - 1
