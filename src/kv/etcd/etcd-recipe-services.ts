// etcd's v3lock and v3election services on a raftlog node: the concurrency recipes (lock-recipe.ts,
// election-recipe.ts) run on the leader, where their writes are proposed; a follower forwards
// Lock, Unlock, Campaign, Proclaim and Resign there. Leader and Observe only read, so any node
// serves them from its own store after a ReadIndex. A call its client cancels stops waiting (and
// a waiting Lock or Campaign deletes its key, as etcd's does).
import * as grpc from '@grpc/grpc-js'
import type { RaftNode } from '../../raft/node/raft-node.js'
import { encodePlain } from '../../session/session-envelope.js'
import { decodeTxnResult, encodeKvCommand, type KvCommand, type KvStateMachine } from '../kv-state-machine.js'
import type { WatchHub } from '../watch/watch-hub.js'
import type { RecipeHost } from '../recipes/recipe-host.js'
import { acquire, release } from '../recipes/lock-recipe.js'
import { campaign, leaderOf, observe, proclaim, resign, type LeaderKey } from '../recipes/election-recipe.js'
import { emptyKey, etcdRecipeError, recipeRefusal } from './etcd-errors.js'
import { etcdHeader } from './etcd-kv-service.js'
import { LeaderForwarder } from './leader-forwarder.js'
import { keyValueToWire, txnOutcomeFromWire, txnToWireRequest } from './etcd-wire.js'
import { RaftLogError } from '../../errors.js'
import { etcdCallError } from '../../net/client/etcd/etcd-endpoints.js'
import type { EtcdServices } from '../../net/etcd-protocol.js'

type UnaryCall<T> = grpc.ServerUnaryCall<T, unknown>

/** Refuses, as etcd does (UNKNOWN, etcd's words), a Proclaim's or Resign's LeaderKey that is missing or names no key; answers whether it did. */
function refused(leader: WireLeaderKey | null | undefined, callback: grpc.sendUnaryData<unknown>): boolean {
  if (leader === null || leader === undefined) callback({ code: grpc.status.UNKNOWN, details: '"leader" field must be provided' })
  else if ((leader.key ?? Buffer.alloc(0)).length === 0) callback(recipeRefusal(emptyKey))
  else return false
  return true
}
/**
 * Refuses a Lock or Campaign with lease 0; answers whether it did. etcd's server then makes a
 * session lease of its own and keeps it alive itself; raftlog makes none: such a lease would live
 * by the node that keeps it alive, not by the client that holds the lock, and it was answered
 * NOT_FOUND "requested lease not found", as if the client had named a lease that ended.
 */
function leaseMissing(method: 'Lock' | 'Campaign', lease: number, callback: grpc.sendUnaryData<unknown>): boolean {
  if (lease !== 0) return false
  callback({ code: grpc.status.UNIMPLEMENTED, details: `raftlog does not create a session lease for a ${method} with lease 0, as etcd's server does: a ${method} needs a lease: grant one first (LeaseGrant) and pass its id` })
  return true
}
interface WireLeaderKey {
  name?: Buffer
  key?: Buffer
  rev?: number
  lease?: number
}

/**
 * A RecipeHost over `node`'s log, store and watches. A recipe starts on the leader, but its wait
 * outlives a change of leader: a write it makes once this node no longer leads (a waiter's key
 * deleted when its client gives up) goes to the leader's KV.Txn. Refused here, it left the key in
 * the lock's queue, granted in its turn for no one and held for as long as the lease lived.
 */
export function recipeHost(node: RaftNode, kv: KvStateMachine, hub: WatchHub, forwarder: LeaderForwarder, check: (command: KvCommand, encoded: Uint8Array) => RaftLogError | undefined): RecipeHost {
  return {
    kv,
    hub,
    txn: async (txn) => {
      // The limits a Put meets (max_key_bytes, max_request_bytes) hold for a lock's or a
      // candidate's key and a proclaimed value too: a Lock named with 1.5 MB wrote a 1.5 MB key.
      const command: KvCommand = { op: 'txn', txn }
      const encoded = encodeKvCommand(command)
      const problem = check(command, encoded)
      if (problem !== undefined) throw problem
      try {
        return decodeTxnResult((await node.propose(encodePlain(encoded))) as Uint8Array)
      } catch (error) {
        const code = (error as RaftLogError).code
        if (code !== 'ERR_NOT_LEADER' && code !== 'ERR_LEADERSHIP_TRANSFER') throw error
      }
      try {
        return txnOutcomeFromWire(await forwarder.call('KV', 'Txn', txnToWireRequest(txn)))
      } catch (error) {
        if (error instanceof RaftLogError) throw error
        const failure = etcdCallError(error as grpc.ServiceError, 'KV.Txn on the leader')
        throw failure.code === 'ERR_UNAVAILABLE' ? new RaftLogError('ERR_LEADERSHIP_LOST', failure.message) : failure
      }
    },
    read: async () => {
      await node.read()
    },
  }
}

export function etcdRecipeServices(node: RaftNode, host: RecipeHost, forwarder: LeaderForwarder): { lock: grpc.UntypedServiceImplementation; election: grpc.UntypedServiceImplementation } {
  const header = (): Record<string, unknown> => etcdHeader(node, host.kv.revision)
  /** Runs `work` here when this node leads, else forwards the call to the leader's `service`.`method`. */
  const onLeader = <T>(service: keyof EtcdServices, method: string, call: UnaryCall<T>, callback: grpc.sendUnaryData<unknown>, work: (signal: AbortSignal) => Promise<unknown>): void => {
    if (node.status().role !== 'leader' && !LeaderForwarder.forwarded(call)) {
      forwarder.unary(service, method, call as UnaryCall<unknown>, callback, { code: 'ERR_NOT_LEADER', message: 'This node does not lead' })
      return
    }
    const controller = new AbortController()
    // grpc-js also says 'cancelled' when an answered call's stream closes: an abort then would only
    // build an AbortError (a DOMException with its stack) for nothing, on every call.
    let answered = false
    call.on('cancelled', () => {
      if (!answered) controller.abort()
    })
    work(controller.signal).then(
      (response) => {
        answered = true
        callback(null, response)
      },
      (error: unknown) => {
        answered = true
        callback(etcdRecipeError(error))
      },
    )
  }
  const leaderKey = (wire: WireLeaderKey | undefined): LeaderKey => ({ name: wire?.name ?? Buffer.alloc(0), key: wire?.key ?? Buffer.alloc(0), rev: Number(wire?.rev ?? 0), lease: Number(wire?.lease ?? 0) })

  const lock: grpc.UntypedServiceImplementation = {
    Lock: (call: UnaryCall<{ name?: Buffer; lease?: number }>, callback: grpc.sendUnaryData<unknown>) => {
      const lease = Number(call.request.lease ?? 0)
      if (leaseMissing('Lock', lease, callback)) return
      onLeader('Lock', 'Lock', call, callback, async (signal) => {
        const name = call.request.name ?? Buffer.alloc(0)
        const held = await acquire(host, Buffer.concat([name, Buffer.from('/')]), lease, Buffer.alloc(0), signal)
        return { header: etcdHeader(node, held.revision), key: held.key, fencing_token: held.createRevision }
      })
    },
    Unlock: (call: UnaryCall<{ key?: Buffer }>, callback: grpc.sendUnaryData<unknown>) => {
      if ((call.request.key ?? Buffer.alloc(0)).length === 0) return callback(recipeRefusal(emptyKey))
      onLeader('Lock', 'Unlock', call, callback, async () => {
        await release(host, call.request.key ?? Buffer.alloc(0))
        return { header: header() }
      })
    },
  }

  const election: grpc.UntypedServiceImplementation = {
    Campaign: (call: UnaryCall<{ name?: Buffer; lease?: number; value?: Buffer }>, callback: grpc.sendUnaryData<unknown>) => {
      const lease = Number(call.request.lease ?? 0)
      if (leaseMissing('Campaign', lease, callback)) return
      onLeader('Election', 'Campaign', call, callback, async (signal) => {
        const leader = await campaign(host, call.request.name ?? Buffer.alloc(0), lease, call.request.value ?? Buffer.alloc(0), signal)
        return { header: header(), leader }
      })
    },
    Proclaim: (call: UnaryCall<{ leader?: WireLeaderKey; value?: Buffer }>, callback: grpc.sendUnaryData<unknown>) => {
      if (refused(call.request.leader, callback)) return
      onLeader('Election', 'Proclaim', call, callback, async () => {
        await proclaim(host, leaderKey(call.request.leader), call.request.value ?? Buffer.alloc(0))
        return { header: header() }
      })
    },
    Resign: (call: UnaryCall<{ leader?: WireLeaderKey }>, callback: grpc.sendUnaryData<unknown>) => {
      if (refused(call.request.leader, callback)) return
      onLeader('Election', 'Resign', call, callback, async () => {
        await resign(host, leaderKey(call.request.leader))
        return { header: header() }
      })
    },
    Leader: (call: UnaryCall<{ name?: Buffer }>, callback: grpc.sendUnaryData<unknown>) => {
      leaderOf(host, call.request.name ?? Buffer.alloc(0)).then(
        (kv) => callback(null, { header: header(), kv: keyValueToWire(kv) }),
        (error: unknown) => callback(etcdRecipeError(error)),
      )
    },
    Observe: (call: grpc.ServerWritableStream<{ name?: Buffer }, unknown>) => {
      const controller = new AbortController()
      const stop = (): void => controller.abort()
      call.on('cancelled', stop)
      call.on('close', stop)
      observe(host, call.request.name ?? Buffer.alloc(0), controller.signal, (kv) => call.write({ header: header(), kv: keyValueToWire(kv) })).then(
        () => call.end(),
        (error: unknown) => call.emit('error', etcdRecipeError(error)),
      )
    },
  }
  return { lock, election }
}
