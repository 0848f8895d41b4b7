// etcd's KV service on a raftlog node: Range, Put, DeleteRange, Txn and Compact over the node's
// key-value store. A write is one log entry (a transaction, applied at one revision) proposed on
// the leader: a follower forwards it there over the node's port and passes the answer back, since
// etcdctl and etcd's clients do not follow redirects. A range is served by the node that gets it:
// after a ReadIndex (linearizable, etcd's default), or at once when serializable.
import * as grpc from '@grpc/grpc-js'
import type { RaftNode } from '../../raft/node/raft-node.js'
import type { RaftLogError } from '../../errors.js'
import { decodeTxnResult, type KvCommand, type KvStateMachine } from '../kv-state-machine.js'
import { txnWrites, type TxnOutcome, type TxnRequest } from '../kv-txn.js'
import { LeaderForwarder } from './leader-forwarder.js'
import { emptyKey, etcdError } from './etcd-errors.js'
import { etcdCalls } from './etcd-calls.js'
import { deleteFromWire, putFromWire, rangeFromWire, rangeToWire, txnFromWire, txnToWire, type WireDeleteRange, type WirePut, type WireRange, type WireTxn } from './etcd-wire.js'
import { putProblem, rangeProblem, txnProblem } from './etcd-txn-check.js'
import type { ServiceContext } from '../../net/server/node-server.js'
import { clusterIdOf } from './etcd-cluster-id.js'

export interface EtcdKvOptions {
  kv: KvStateMachine
  /** What is wrong with a command (`encoded`: its bytes in the log) before it enters the log (a key over max_key_bytes, a request over max_request_bytes), or undefined. */
  check: (command: KvCommand, encoded: Uint8Array) => RaftLogError | undefined
}

type Unary = (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => void

/** The ResponseHeader of an answer given now by `node`. */
export function etcdHeader(node: RaftNode, revision: number): Record<string, unknown> {
  return { cluster_id: clusterIdOf(node), member_id: node.id, revision, raft_term: node.term }
}


/** The KV service, and what closes its channels to the leader when the node stops. */
export function etcdKvService(node: RaftNode, context: ServiceContext, options: EtcdKvOptions): { implementation: grpc.UntypedServiceImplementation; close(): void } {
  const { kv } = options
  const forwarder = new LeaderForwarder(node, context)

  const { write, read } = etcdCalls(node, forwarder, 'KV', options.check)

  const txnAnswer = (result: Uint8Array): Record<string, unknown> => {
    const outcome = decodeTxnResult(result)
    return txnToWire(outcome, etcdHeader(node, outcome.revision))
  }

  const handlers: Record<string, Unary> = {
    Range: (call, callback) => {
      const wire = call.request as WireRange
      if ((wire.key ?? Buffer.alloc(0)).length === 0) return callback(emptyKey)
      const problem = rangeProblem(wire)
      if (problem !== undefined) return callback(problem)
      const request = rangeFromWire(wire)
      read(wire.serializable === true, callback, () => rangeToWire(kv.range(request), etcdHeader(node, kv.revision)))
    },
    Put: (call, callback) => {
      const problem = putProblem(call.request as WirePut)
      if (problem !== undefined) return callback(problem)
      const op = putFromWire(call.request as WirePut)
      write('Put', call, callback, { op: 'txn', txn: { compare: [], success: [op], failure: [] } }, (result) => firstResponse(txnAnswer(result), 'response_put'))
    },
    DeleteRange: (call, callback) => {
      const op = deleteFromWire(call.request as WireDeleteRange)
      if ('deleteRange' in op && op.deleteRange.key.length === 0) return callback(emptyKey)
      write('DeleteRange', call, callback, { op: 'txn', txn: { compare: [], success: [op], failure: [] } }, (result) => firstResponse(txnAnswer(result), 'response_delete_range'))
    },
    Txn: (call, callback) => {
      const problem = txnProblem(call.request as WireTxn)
      if (problem !== undefined) return callback(problem)
      const txn: TxnRequest = txnFromWire(call.request as WireTxn)
      if (txnWrites(txn)) return write('Txn', call, callback, { op: 'txn', txn }, txnAnswer)
      // Read-only: served like a range, no log entry (etcd does the same).
      const serializable = rangesSerializable(call.request as WireTxn)
      read(serializable, callback, () => {
        const outcome: TxnOutcome = kv.readTxn(txn)
        return txnToWire(outcome, etcdHeader(node, outcome.revision))
      })
    },
    Compact: (call, callback) => {
      const revision = Number((call.request as { revision?: number }).revision ?? 0)
      // The command carries it unsigned; below zero it is below every compaction point (etcd's answer).
      if (revision < 0) return callback(etcdError({ code: 'ERR_COMPACTED' }))
      write('Compact', call, callback, { op: 'compact', revision }, (result) => {
        const outcome = decodeTxnResult(result)
        return { header: etcdHeader(node, outcome.revision) }
      })
    },
  }
  return {
    implementation: handlers as grpc.UntypedServiceImplementation,
    close: () => forwarder.close(),
  }
}

/** The answer to a transaction's only operation, as a Put or DeleteRange answers. */
function firstResponse(txn: Record<string, unknown>, field: string): unknown {
  const first = (txn.responses as Record<string, unknown>[])[0]
  return first?.[field]
}

/** A read-only transaction whose every range asks for a serializable read is served without a ReadIndex (etcd's rule). */
function rangesSerializable(txn: WireTxn): boolean {
  return [...(txn.success ?? []), ...(txn.failure ?? [])].every((op) => (op.request_txn != null ? rangesSerializable(op.request_txn) : op.request_range?.serializable === true))
}
