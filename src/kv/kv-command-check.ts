// The checks a node makes of a client's key-value command before it takes a log entry: what
// every replica would refuse (not a command, a lease checkpoint, a transaction of the wrong
// shape) or what is over the configured limits (a key longer than max_key_bytes).
import { RaftLogError } from '../errors.js'
import { decodeKvCommand, type KvCommand } from './kv-state-machine.js'
import { txnKeys, txnShapeProblem } from './kv-txn.js'

/**
 * Why a client may not propose the key-value command `bytes` (a one-group node's, inside its
 * session envelope, or a many-group node's, as it is): not a command (its decoder's words), or
 * clientCommandProblem's answer.
 */
export function kvCommandProblem(bytes: Uint8Array, maxKeyBytes: number): string | RaftLogError | undefined {
  try {
    return clientCommandProblem(decodeKvCommand(bytes), maxKeyBytes)
  } catch (error) {
    return (error as Error).message
  }
}

/**
 * Why a client may not propose `command`: ERR_BAD_COMMAND for a lease checkpoint (the leader's
 * lease clock writes those, past this check; from a client one would shorten another holder's
 * lease with no revoke to show for it) or a transaction of the wrong shape (refused here, it
 * never takes a log entry), or keyProblem's answer.
 */
function clientCommandProblem(command: KvCommand<Buffer>, maxKeyBytes: number): RaftLogError | undefined {
  if (command.op === 'leaseCheckpoint') return new RaftLogError('ERR_BAD_COMMAND', "A lease checkpoint is written by the leader's lease clock, never proposed by a client")
  const shape = command.op === 'txn' ? txnShapeProblem(command.txn) : undefined
  if (shape !== undefined) return new RaftLogError('ERR_BAD_COMMAND', `A transaction of the wrong shape, ${shape}`)
  return keyProblem(command, maxKeyBytes)
}

/** ERR_KEY_TOO_LARGE for the first key of `command` longer than `maxKeyBytes`. */
export function keyProblem(command: KvCommand<Buffer>, maxKeyBytes: number): RaftLogError | undefined {
  const keys = command.op === 'batch' ? command.puts.map((put) => put.key) : command.op === 'txn' ? txnKeys(command.txn) : 'key' in command ? [command.key] : []
  const position = keys.findIndex((key) => key.length > maxKeyBytes)
  if (position === -1) return undefined
  const which = command.op === 'batch' ? `Key ${position + 1} of a batch of ${keys.length} puts` : command.op === 'txn' ? `Key ${position + 1} of ${keys.length} a transaction names` : `The ${command.op}'s key`
  return new RaftLogError('ERR_KEY_TOO_LARGE', `${which} is ${(keys[position] as Buffer).length} bytes, larger than max_key_bytes (${maxKeyBytes} bytes)`)
}
