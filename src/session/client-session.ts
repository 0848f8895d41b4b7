// A client's side of a session (Raft dissertation §6.3): it numbers commands and builds the
// entries to propose. Proposing the same entry again (the same sequence) after a timeout or a
// lost connection is safe: the SessionStateMachine applies it once and answers again. The
// session's secret, chosen here at random, is what lets only this client write in it.
import { randomBytes } from 'node:crypto'
import { RaftLogError } from '../errors.js'
import { clientIdOf } from './session-state-machine.js'
import { encodeCommand, encodeKeepAlive, encodeOpen, sessionSecretBytes } from './session-envelope.js'

/**
 * A client's side of a session: its id and secret, the next sequence number, and the entries that
 * carry its commands.
 */
export class ClientSession {
  readonly clientId: number
  private readonly sessionSecret: Uint8Array
  private nextSequence = 1
  /** Commands sent whose answer this client does not know yet. */
  private readonly unanswered = new Set<number>()

  private constructor(clientId: number, secret: Uint8Array) {
    this.clientId = clientId
    this.sessionSecret = secret
  }

  /**
   * Opens a session through `propose` (RaftNode.propose, or a remote client's): the entry's
   * index becomes the client id; a new random secret goes with it. Opening again after a lost
   * answer only opens another session.
   */
  static async open(propose: (entry: Uint8Array) => Promise<unknown>, nowMs = Date.now()): Promise<ClientSession> {
    const secret = randomBytes(sessionSecretBytes)
    return new ClientSession(clientIdOf(await propose(encodeOpen(nowMs, secret))), secret)
  }

  /**
   * A session this client opened elsewhere (another process of the same client): its id and
   * its secret. Sequence numbers start again at 1, so resume only a session whose commands
   * have all been answered, or numbered past `nextSequence`.
   */
  static resume(clientId: number, secret: Uint8Array, nextSequence = 1): ClientSession {
    if (!Number.isSafeInteger(clientId) || clientId < 1) throw new RaftLogError('ERR_BAD_ARGUMENT', `ClientSession.resume: clientId must be a whole number from 1, got ${String(clientId)}`)
    if (!(secret instanceof Uint8Array) || secret.length !== sessionSecretBytes) {
      throw new RaftLogError('ERR_BAD_ARGUMENT', `ClientSession.resume: secret must be the ${sessionSecretBytes} bytes of the session's secret (session.secret), got ${secret instanceof Uint8Array ? `${secret.length} bytes` : typeof secret}`)
    }
    if (!Number.isSafeInteger(nextSequence) || nextSequence < 1) throw new RaftLogError('ERR_BAD_ARGUMENT', `ClientSession.resume: nextSequence must be a whole number from 1, got ${String(nextSequence)}`)
    const session = new ClientSession(clientId, Uint8Array.from(secret))
    session.nextSequence = nextSequence
    return session
  }

  /** The session's secret (a copy): whoever holds it can write in this session, so keep it to this client. */
  get secret(): Uint8Array {
    return Uint8Array.from(this.sessionSecret)
  }

  /**
   * The entry for a new command. Propose it, and propose the same bytes again while its outcome
   * is unknown; call answered(sequence) once it is known.
   */
  command(payload: Uint8Array, nowMs = Date.now()): { sequence: number; entry: Uint8Array } {
    const sequence = this.nextSequence++
    this.unanswered.add(sequence)
    return { sequence, entry: encodeCommand(this.clientId, sequence, this.lowestPending(), nowMs, this.sessionSecret, payload) }
  }

  /** The answer to `sequence` is known (or will never be needed): the state machine may forget it. */
  answered(sequence: number): void {
    this.unanswered.delete(sequence)
  }

  /** An entry that keeps an idle session from expiring. */
  keepAlive(nowMs = Date.now()): Uint8Array {
    return encodeKeepAlive(this.clientId, nowMs, this.sessionSecret)
  }

  private lowestPending(): number {
    let lowest = this.nextSequence
    for (const sequence of this.unanswered) if (sequence < lowest) lowest = sequence
    return lowest
  }
}
