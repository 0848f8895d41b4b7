// A call's timeoutMs, as a caller of the client library gives it: a gRPC deadline (and a timer)
// waits at most maxTimerMs, and grpc-js throws "Deadline is too far in the future" past it.
import { RaftLogError } from '../../errors.js'
import { maxTimerMs } from '../../timer-limit.js'

/**
 * Throws ERR_BAD_ARGUMENT unless `timeoutMs` is a number of milliseconds from 1 to maxTimerMs
 * (or Infinity, where `waitForever` says the call may wait as long as it takes: a lock, a campaign).
 */
export function checkTimeoutMs(timeoutMs: number, waitForever = false): void {
  if (waitForever && timeoutMs === Number.POSITIVE_INFINITY) return
  if (timeoutMs >= 1 && timeoutMs <= maxTimerMs) return
  const range = `from 1 to ${maxTimerMs}${waitForever ? ', or Infinity' : ''}`
  throw new RaftLogError('ERR_BAD_ARGUMENT', `timeoutMs must be a number of milliseconds ${range}, got ${String(timeoutMs)}`, { argument: 'timeoutMs' })
}
