// etcd's Lease service on a raftlog node. Grant and revoke are log entries (forwarded to the leader
// by a follower); keep-alives and the time left are the leader's clock (lease-clock.ts), so a
// follower passes them to the leader; the list of leases is read from any node after a ReadIndex.
import * as grpc from '@grpc/grpc-js'
import { randomInt } from 'node:crypto'
import type { RaftNode } from '../../raft/node/raft-node.js'
import type { RaftLogError } from '../../errors.js'
import { decodeLeaseResult, type KvCommand, type KvStateMachine } from '../kv-state-machine.js'
import { maxLeaseId, maxLeaseTtlSeconds } from '../lease-table.js'
import type { LeaseClock } from '../lease/lease-clock.js'
import { etcdCalls, answerWith } from './etcd-calls.js'
import { etcdError } from './etcd-errors.js'
import { etcdHeader } from './etcd-kv-service.js'
import { LeaderForwarder } from './leader-forwarder.js'
import { KeepAliveRelay } from './keep-alive-relay.js'
import { withExactClusterId } from './etcd-cluster-id.js'

export interface EtcdLeaseOptions {
  kv: KvStateMachine
  clock: LeaseClock
  /** The shortest TTL granted (s): a shorter one asked for is raised to it (etcd's minimum lease TTL, 1.5 election timeouts). */
  minTtlSeconds: number
  forwarder: LeaderForwarder
  check: (command: KvCommand, encoded: Uint8Array) => RaftLogError | undefined
}

const badId = (what: string): grpc.StatusObject => ({ code: grpc.status.INVALID_ARGUMENT, details: `etcdserver: ${what}: raftlog's lease ids are whole numbers from 1 to ${maxLeaseId}`, metadata: new grpc.Metadata() })

export function etcdLeaseService(node: RaftNode, options: EtcdLeaseOptions): grpc.UntypedServiceImplementation {
  const { kv, clock, forwarder } = options
  const { write, read } = etcdCalls(node, forwarder, 'Lease', options.check)
  const relay = new KeepAliveRelay(forwarder)
  const header = (revision = kv.revision): Record<string, unknown> => etcdHeader(node, revision)

  return {
    LeaseGrant: (call: grpc.ServerUnaryCall<{ TTL?: number; ID?: number }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const asked = Number(call.request.TTL ?? 0)
      if (asked > maxLeaseTtlSeconds) return callback({ code: grpc.status.OUT_OF_RANGE, details: 'etcdserver: too large lease TTL' })
      let id = Number(call.request.ID ?? 0)
      // Decoded as a double: past 2^53 its digits are not the ones sent, so none are shown.
      if (id < 0) return callback(badId(Number.isSafeInteger(id) ? `lease id ${id} is out of range` : 'a lease id below zero is out of range'))
      if (!Number.isSafeInteger(id)) return callback(badId(`a lease id past ${maxLeaseId} is out of range`))
      if (id === 0) id = randomInt(1, 2 ** 48)
      const ttl = Math.max(asked, options.minTtlSeconds)
      write('LeaseGrant', call as grpc.ServerUnaryCall<unknown, unknown>, callback, { op: 'leaseGrant', id, ttl }, (result) => {
        const outcome = decodeLeaseResult(result)
        return { header: header(outcome.revision), ID: outcome.id, TTL: outcome.ttl }
      })
    },
    LeaseRevoke: (call: grpc.ServerUnaryCall<{ ID?: number }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const id = Number(call.request.ID ?? 0)
      // The command carries it unsigned; no lease has an id below zero.
      if (id < 0) return callback(etcdError({ code: 'ERR_LEASE_NOT_FOUND' }))
      write('LeaseRevoke', call as grpc.ServerUnaryCall<unknown, unknown>, callback, { op: 'leaseRevoke', id }, (result) => ({ header: header(decodeLeaseResult(result).revision) }))
    },
    LeaseTimeToLive: (call: grpc.ServerUnaryCall<{ ID?: number; keys?: boolean }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const id = Number(call.request.ID ?? 0)
      if (node.status().leaderId !== node.id) return forwarder.unary('Lease', 'LeaseTimeToLive', call as grpc.ServerUnaryCall<unknown, unknown>, callback, { code: 'ERR_NO_LEADER', message: 'No leader' })
      answerWith(callback, () => {
        const lease = kv.lease(id)
        const ttl = clock.remaining(id)
        if (lease === undefined || ttl < 0) return { header: header(), ID: id, TTL: -1, grantedTTL: 0, keys: [] }
        return { header: header(), ID: id, TTL: ttl, grantedTTL: lease.ttl, keys: call.request.keys === true ? lease.keys : [] }
      })
    },
    LeaseLeases: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => {
      read(false, callback, () => ({ header: header(), leases: kv.leaseList().map((lease) => ({ ID: lease.id })) }))
    },
    LeaseKeepAlive: (call: grpc.ServerDuplexStream<{ ID?: number }, unknown>) => serveKeepAlives(node, clock, relay, call, header),
  }
}

/**
 * Keep-alives: answered here while this node leads, passed to the leader otherwise, on the one
 * stream every client's keep-alives through this node share (keep-alive-relay.ts). A lease that
 * does not exist answers TTL 0, as etcd's, which its clients read as "expired".
 */
function serveKeepAlives(node: RaftNode, clock: LeaseClock, relay: KeepAliveRelay, call: grpc.ServerDuplexStream<{ ID?: number }, unknown>, header: () => Record<string, unknown>): void {
  let open = true
  const fail = (details: string): void => {
    if (!open) return
    open = false
    call.emit('error', { code: grpc.status.UNAVAILABLE, details })
  }
  const toLeader = (request: { ID?: number }): void => {
    if (LeaderForwarder.forwarded(call)) return fail('etcdserver: not leader')
    const waiter = {
      answer: (response: unknown) => {
        if (open) call.write(withExactClusterId(node, response))
      },
      fail: () => fail('etcdserver: leader changed'),
    }
    if (!relay.send(Number(request.ID ?? 0), waiter)) fail('etcdserver: no leader')
  }
  call.on('data', (request: { ID?: number }) => {
    const id = Number(request.ID ?? 0)
    if (node.status().leaderId !== node.id) return toLeader(request)
    clock.keepAlive(id).then(
      (ttl) => {
        if (open) call.write({ header: header(), ID: id, TTL: ttl })
      },
      (error: RaftLogError) => {
        if (!open) return
        if (error.code === 'ERR_LEASE_NOT_FOUND') call.write({ header: header(), ID: id, TTL: 0 })
        else if (error.code === 'ERR_NOT_LEADER' || error.code === 'ERR_LEADERSHIP_LOST') toLeader(request)
        else fail(etcdError(error).details)
      },
    )
  })
  const close = (): void => {
    open = false
  }
  call.on('end', () => {
    close()
    call.end()
  })
  call.on('cancelled', close)
  call.on('error', close)
}
