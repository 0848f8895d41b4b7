import { RaftLogError } from '../errors.js'

/** Exit status of a command whose request may or may not have been carried out. */
export const unknownOutcomeStatus = 3

/** Exit status 3 with the message for ERR_UNKNOWN_OUTCOME; any other error is thrown on. */
export function unknownOutcome(error: unknown): number {
  if (!(error instanceof RaftLogError) || error.code !== 'ERR_UNKNOWN_OUTCOME') throw error
  console.error(`Error: ${error.message}`)
  return unknownOutcomeStatus
}
