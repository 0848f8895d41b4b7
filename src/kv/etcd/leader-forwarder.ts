// Calls a follower passes to the leader: etcdctl and etcd's clients do not follow redirects, so a
// write (or a lease call only the leader's clock can answer) reaching a follower goes to the
// leader over the node's port, and the leader's answer comes back as if the follower gave it.
// A forwarded call carries a header: the node it reaches answers or refuses, never forwards again.
import * as grpc from '@grpc/grpc-js'
import type { RaftNode } from '../../raft/node/raft-node.js'
import type { ServiceContext } from '../../net/server/node-server.js'
import { etcdProtocol, etcdWaitingMethods, type EtcdServices } from '../../net/etcd-protocol.js'
import { RaftLogError } from '../../errors.js'
import { etcdError } from './etcd-errors.js'
import { withExactClusterId } from './etcd-cluster-id.js'

/** Metadata a forwarded call carries. */
const forwardedHeader = 'raftlog-forwarded-by'
/** How long a forwarded call may take on the leader (ms), but for the waits of etcdWaitingMethods; the client's own deadline usually ends it sooner. */
const forwardTimeoutMs = 30_000
/**
 * Long-lived calls one of those connections carries at most, under the leader's
 * max_concurrent_streams: past it another connection is opened, so that a Lock of a free name is
 * not queued behind 256 waits for a held one.
 */
const longLivedCallsPerConnection = 200
/** Those connections to the leader per service at most (3,200 calls); past them, calls queue on the least loaded. */
const maxLongLivedConnections = 16

/** A connection to the leader for long-lived calls, and how many it carries now. */
interface LongLived {
  client: grpc.Client
  calls: number
}

type ServiceName = keyof EtcdServices
type UnaryMethod = (request: unknown, metadata: grpc.Metadata, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, response?: unknown) => void) => grpc.ClientUnaryCall
type ServerStreamMethod = (request: unknown, metadata: grpc.Metadata, options: grpc.CallOptions) => grpc.ClientReadableStream<unknown>
type StreamMethod = (metadata: grpc.Metadata, options?: grpc.CallOptions) => grpc.ClientDuplexStream<unknown, unknown>

export class LeaderForwarder {
  private readonly clients = new Map<string, grpc.Client>()
  /** Connections for long-lived calls, by service and leader. */
  private readonly longLived = new Map<string, LongLived[]>()

  constructor(
    private readonly node: RaftNode,
    private readonly context: ServiceContext,
  ) {}

  /** Whether `call` came from another member (then it must be answered here). */
  static forwarded(call: { metadata: grpc.Metadata }): boolean {
    return call.metadata.get(forwardedHeader).length > 0
  }

  /**
   * Sends a unary call's request to the leader's `service` and answers with what it answers; with
   * no leader known (or a call forwarded already) answers `cause` as etcd's error.
   */
  unary(service: ServiceName, method: string, call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>, cause: unknown): void {
    const leader = LeaderForwarder.forwarded(call) ? undefined : this.leaderClient(service, cause, etcdWaitingMethods.has(method))
    if (leader === undefined) {
      callback(etcdError(cause))
      return
    }
    // A wait for a lock lasts as long as the lock is held: only its client's deadline ends it (a
    // client that leaves cancels it on the leader too), as on the leader itself.
    const cap = etcdWaitingMethods.has(method) ? Infinity : Date.now() + forwardTimeoutMs
    const deadline = Math.min(call.getDeadline() instanceof Date ? (call.getDeadline() as Date).getTime() : Infinity, cap)
    const send = (leader.client as unknown as Record<string, UnaryMethod>)[method] as UnaryMethod
    const upstream = send.call(leader.client, call.request, this.metadata(), { deadline }, (error, response) => {
      leader.release()
      if (error !== null) callback({ code: error.code, details: leaderGone(error) ? 'etcdserver: leader changed' : error.details })
      else callback(null, withExactClusterId(this.node, response))
    })
    // The caller gave up: so does the leader's call. A waiting Lock left there would take its place
    // in the lock's queue until its deadline, and be granted the lock for no one, held for as long
    // as its lease lives. (grpc-js also says 'cancelled' once an answered call closes: a no-op then.)
    call.on('cancelled', () => upstream.cancel())
  }

  /**
   * Calls the leader's `service`.`method` with `request` on this node's own behalf; rejects with
   * the leader's gRPC error, or with ERR_NOT_LEADER when no other node is known to lead.
   */
  call<T>(service: ServiceName, method: string, request: unknown, timeoutMs = forwardTimeoutMs): Promise<T> {
    const leader = this.leaderClient(service, undefined)
    if (leader === undefined) return Promise.reject(new RaftLogError('ERR_NOT_LEADER', `Node ${this.node.id} does not lead and knows no other node that does`))
    const send = (leader.client as unknown as Record<string, UnaryMethod>)[method] as UnaryMethod
    return new Promise((resolve, reject) => {
      send.call(leader.client, request, this.metadata(), { deadline: Date.now() + timeoutMs }, (error, response) => (error === null ? resolve(response as T) : reject(error)))
    })
  }

  /**
   * Sends a server-streaming call's request to the leader's `service` and passes its messages back
   * as the caller takes them (the leader's stream waits while the caller's is full); with no
   * leader known (or a call forwarded already) answers `cause` as etcd's error.
   */
  serverStream(service: ServiceName, method: string, call: grpc.ServerWritableStream<unknown, unknown>, cause: unknown): void {
    const leader = LeaderForwarder.forwarded(call) ? undefined : this.leaderClient(service, cause, true)
    if (leader === undefined) {
      call.emit('error', etcdError(cause))
      return
    }
    const open = (leader.client as unknown as Record<string, ServerStreamMethod>)[method] as ServerStreamMethod
    const upstream = open.call(leader.client, call.request, this.metadata(), {})
    upstream.on('status', leader.release)
    call.on('cancelled', () => upstream.cancel())
    upstream.on('data', (message: unknown) => {
      if (call.write(withExactClusterId(this.node, message))) return
      upstream.pause()
      call.once('drain', () => upstream.resume())
    })
    upstream.on('end', () => call.end())
    upstream.on('error', (error: grpc.ServiceError) => {
      if (error.code !== grpc.status.CANCELLED || !call.cancelled) call.emit('error', { code: error.code, details: leaderGone(error) ? 'etcdserver: leader changed' : error.details })
    })
  }

  /** A stream to the leader's `service`.`method`, or undefined when no other node is known to lead. */
  stream(service: ServiceName, method: string): grpc.ClientDuplexStream<unknown, unknown> | undefined {
    const leader = this.leaderClient(service, undefined, true)
    if (leader === undefined) return undefined
    const open = (leader.client as unknown as Record<string, StreamMethod>)[method] as StreamMethod
    const upstream = open.call(leader.client, this.metadata())
    upstream.on('status', leader.release)
    return upstream
  }

  close(): void {
    for (const client of this.clients.values()) client.close()
    this.clients.clear()
    for (const pool of this.longLived.values()) for (const connection of pool) connection.client.close()
    this.longLived.clear()
  }

  private metadata(): grpc.Metadata {
    const metadata = new grpc.Metadata()
    metadata.set(forwardedHeader, String(this.node.id))
    return metadata
  }

  /**
   * A client of the leader's `service`, and what to call once the call is over; undefined when no
   * other node is known to lead. `longLived`: a call that may stay open for long, sent on a
   * connection of its own (a connection carries at most max_concurrent_streams, 256, calls: however
   * many of them wait, the follower's writes still go through), at most longLivedCallsPerConnection to one.
   */
  private leaderClient(service: ServiceName, cause: unknown, longLived = false): { client: grpc.Client; release: () => void } | undefined {
    const leaderId = (cause as { leaderId?: number } | undefined)?.leaderId ?? this.node.status().leaderId
    const address = leaderId > 0 && leaderId !== this.node.id ? this.context.addressOf(leaderId) : ''
    if (address === '') return undefined
    const key = `${service}:${leaderId}@${address}`
    const make = (options: grpc.ChannelOptions): grpc.Client => new etcdProtocol[service](address, this.context.credentialsFor(leaderId), { 'grpc.enable_channelz': 0, ...options })
    if (!longLived) {
      let client = this.clients.get(key)
      if (client === undefined) {
        client = make({})
        this.clients.set(key, client)
      }
      return { client, release: () => undefined }
    }
    const pool = this.longLived.get(key) ?? []
    this.longLived.set(key, pool)
    let connection = pool.find((candidate) => candidate.calls < longLivedCallsPerConnection)
    if (connection === undefined && pool.length < maxLongLivedConnections) {
      // A local subchannel pool is a connection of the client's own, not shared with the other calls to the same address.
      connection = { client: make({ 'grpc.use_local_subchannel_pool': 1 }), calls: 0 }
      pool.push(connection)
    }
    connection ??= pool.reduce((least, candidate) => (candidate.calls < least.calls ? candidate : least))
    const taken = connection
    taken.calls++
    let released = false
    return {
      client: taken.client,
      release: () => {
        if (released) return
        released = true
        taken.calls--
      },
    }
  }
}

/** A leader that stopped answering: etcd's clients retry "leader changed", not raw connection text. */
function leaderGone(error: grpc.ServiceError): boolean {
  return error.code === grpc.status.UNAVAILABLE && !error.details.startsWith('etcdserver:')
}
