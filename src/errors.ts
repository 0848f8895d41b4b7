/** Stable error codes; callers match on `error.code`. */
export type RaftLogErrorCode =
  | 'ERR_BAD_ARGUMENT'
  | 'ERR_CLOSED'
  | 'ERR_CORRUPT'
  | 'ERR_ENTRY_TOO_LARGE'
  | 'ERR_IO'
  | 'ERR_LOCKED'
  | 'ERR_NATIVE_MISSING'
  | 'ERR_NOT_RAFTLOG'
  | 'ERR_OUT_OF_RANGE'
  | 'ERR_UNSUPPORTED_VERSION'
  | (string & {})

/** Every error raftlog throws on purpose: a stable `code` and a message naming the thing. */
export class RaftLogError extends Error {
  readonly code: RaftLogErrorCode
  /** Extra facts for machines: file, offset, index, argument, … */
  readonly details: Record<string, unknown>

  constructor(code: RaftLogErrorCode, message: string, details: Record<string, unknown> = {}, options?: ErrorOptions) {
    super(message, options)
    this.name = 'RaftLogError'
    this.code = code
    this.details = details
  }
}
