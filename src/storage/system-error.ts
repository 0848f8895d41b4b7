import { RaftLogError, type RaftLogErrorCode } from '../errors.js'

/**
 * Turns an error from the addon or node:fs into a RaftLogError that says what raftlog was doing.
 * The errno name stays the code (ENOSPC, EFBIG, EACCES, …) unless the caller gives one, such as
 * ERR_IO for a failed sync. RaftLogErrors pass through unchanged.
 */
export function systemError(error: unknown, doing: string, code?: RaftLogErrorCode): RaftLogError {
  if (error instanceof RaftLogError) return error
  const cause = error as { code?: unknown; message?: unknown; path?: unknown }
  const errno = typeof cause.code === 'string' ? cause.code : 'EIO'
  const reason = typeof cause.message === 'string' ? cause.message : String(error)
  return new RaftLogError(code ?? errno, `${doing}: ${reason}`, { errno, path: cause.path }, { cause: error })
}
