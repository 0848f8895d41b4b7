// A client's side of a session (Raft dissertation §6.3): it numbers commands and builds the
// entries to propose. Proposing the same entry again (the same sequence) after a timeout or a
// lost connection is safe: the SessionStateMachine applies it once and answers again.
import { RaftLogError } from '../storage/errors.js'
import { clientIdOf } from './session-state-machine.js'
import { encodeCommand, encodeKeepAlive, encodeOpen } from './session-envelope.js'

export class ClientSession {
  readonly clientId: number
  private nextSequence = 1
  /** Commands sent whose answer this client does not know yet. */
  private readonly unanswered = new Set<number>()

  private constructor(clientId: number) {
    this.clientId = clientId
  }

  /**
   * Opens a session through `propose` (RaftNode.propose, or a remote client's): the entry's
   * index becomes the client id. Opening again after a lost answer only opens another session.
   */
  static async open(propose: (entry: Uint8Array) => Promise<unknown>, nowMs = Date.now()): Promise<ClientSession> {
    return new ClientSession(clientIdOf(await propose(encodeOpen(nowMs))))
  }

  /** A client id learned elsewhere (a session opened by another process of the same client). */
  static resume(clientId: number): ClientSession {
    if (!Number.isSafeInteger(clientId) || clientId < 1) throw new RaftLogError('ERR_BAD_ARGUMENT', `ClientSession.resume: clientId must be a whole number from 1, got ${String(clientId)}`)
    return new ClientSession(clientId)
  }

  /**
   * The entry for a new command. Propose it, and propose the same bytes again while its outcome
   * is unknown; call answered(sequence) once it is known.
   */
  command(payload: Uint8Array, nowMs = Date.now()): { sequence: number; entry: Uint8Array } {
    const sequence = this.nextSequence++
    this.unanswered.add(sequence)
    return { sequence, entry: encodeCommand(this.clientId, sequence, this.lowestPending(), nowMs, payload) }
  }

  /** The answer to `sequence` is known (or will never be needed): the state machine may forget it. */
  answered(sequence: number): void {
    this.unanswered.delete(sequence)
  }

  /** An entry that keeps an idle session from expiring. */
  keepAlive(nowMs = Date.now()): Uint8Array {
    return encodeKeepAlive(this.clientId, nowMs)
  }

  private lowestPending(): number {
    let lowest = this.nextSequence
    for (const sequence of this.unanswered) if (sequence < lowest) lowest = sequence
    return lowest
  }
}
