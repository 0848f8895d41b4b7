// The two ways an etcd call is served on a raftlog node: a write is one log entry proposed here
// (forwarded to the leader when this node does not lead), a read is answered from this node's
// state after a ReadIndex (or at once when serializable).
import type * as grpc from '@grpc/grpc-js'
import type { RaftNode } from '../../raft/node/raft-node.js'
import type { RaftLogError } from '../../errors.js'
import { encodePlain } from '../../session/session-envelope.js'
import { encodeKvCommand, type KvCommand } from '../kv-state-machine.js'
import { etcdError } from './etcd-errors.js'
import type { LeaderForwarder } from './leader-forwarder.js'
import type { EtcdServices } from '../../net/etcd-protocol.js'

export interface EtcdCalls {
  /** Proposes `command` here, or forwards the call to the leader's `method` when this node does not lead; answers with `answer(result)`. */
  write(method: string, call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>, command: KvCommand, answer: (result: Uint8Array) => unknown): void
  /** Waits for a ReadIndex unless `serializable`, then answers with `answer()` from this node's state. */
  read(serializable: boolean, callback: grpc.sendUnaryData<unknown>, answer: () => unknown): void
}

/** `check`: what is wrong with a command (`encoded`: its bytes in the log) before it enters the log, or undefined. */
export function etcdCalls(node: RaftNode, forwarder: LeaderForwarder, service: keyof EtcdServices, check: (command: KvCommand, encoded: Uint8Array) => RaftLogError | undefined): EtcdCalls {
  return {
    write(method, call, callback, command, answer) {
      const encoded = encodeKvCommand(command)
      const problem = check(command, encoded)
      if (problem !== undefined) {
        callback(etcdError(problem))
        return
      }
      node.propose(encodePlain(encoded)).then(
        (result) => answerWith(callback, () => answer(result as Uint8Array)),
        (error: RaftLogError) => {
          if (error.code === 'ERR_NOT_LEADER' || error.code === 'ERR_LEADERSHIP_TRANSFER') forwarder.unary(service, method, call, callback, error)
          else callback(etcdError(error))
        },
      )
    },
    read(serializable, callback, answer) {
      const ready = serializable ? Promise.resolve(0) : node.read()
      ready.then(
        () => answerWith(callback, answer),
        (error: unknown) => callback(etcdError(error)),
      )
    },
  }
}

/** Calls back with `answer()`, or with etcd's error when it throws (a refusal the log answered). */
export function answerWith(callback: grpc.sendUnaryData<unknown>, answer: () => unknown): void {
  let response: unknown
  try {
    response = answer()
  } catch (error) {
    callback(etcdError(error))
    return
  }
  callback(null, response)
}
