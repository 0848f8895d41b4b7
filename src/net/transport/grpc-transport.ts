// The Transport of a node in a real cluster: one long-lived gRPC stream to each peer, carrying
// every Raft message for it in batches (all messages sent in one task go in one batch). Nothing is answered on a stream; answers are messages on the peer's own stream.
// A queue per peer is bounded: when a peer (or the network) is slow, new messages are dropped,
// never waited for, as Raft expects of a network. A broken stream is opened again on the next
// message, with a growing pause between attempts.
import * as grpc from '@grpc/grpc-js'
import type { RaftMessage } from '../../raft/core/messages.js'
import type { Transport } from '../../raft/transport.js'
import { protocol, toEnvelope } from '../protocol.js'
import { safeDefinition, serveInboundStream } from './inbound-stream.js'
import { removedStatusPrefix, type RejectReason } from './message-check.js'
import { emptyRejectionCounts, RejectionLog, type RejectionCounts } from './rejections.js'
import { peerChannelCredentials } from '../tls/tls-credentials.js'
import type { NodeTls } from '../tls/tls-files.js'

export interface PeerAddress {
  id: number
  /** host:port of the peer's gRPC server. */
  address: string
}

/** Messages queued for one peer (waiting for its stream to drain) before new ones are dropped. */
export const maxQueuedMessagesPerPeer = 4096
/** Payload bytes queued for one peer before new messages are dropped. */
export const maxQueuedBytesPerPeer = 64 * 1024 * 1024
/** Payload bytes per batch; one larger message still goes alone. */
export const maxBatchBytes = 4 * 1024 * 1024
/** Largest gRPC message a channel (to a peer, or ClusterClient's) sends or receives; a node's port takes less (node-server.ts maxReceiveMessageBytes). */
export const maxGrpcMessageBytes = 64 * 1024 * 1024
/** Pause before opening a broken stream again: doubled per failure up to the maximum. */
const reconnectMinMs = 50
const reconnectMaxMs = 2000

const channelOptions: grpc.ChannelOptions = {
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 2000,
  'grpc.keepalive_time_ms': 10_000,
  // No channelz tracing: raftlog serves no channelz service, and it costs every message.
  'grpc.enable_channelz': 0,
  'grpc.max_receive_message_length': maxGrpcMessageBytes,
  'grpc.max_send_message_length': maxGrpcMessageBytes,
}

type StreamStub = grpc.Client & { Stream(callback: (error: grpc.ServiceError | null) => void): grpc.ClientWritableStream<unknown> }

/** Counters for status, metrics and tests. */
export interface TransportCounts {
  /** Messages handed to a stream. */
  sent: number
  /** Batches written. */
  batches: number
  /** Messages dropped: a full queue, no stream, or a closed transport. */
  dropped: number
  /** Messages received and delivered. */
  received: number
  /** Messages received that were not addressed to this node or came from outside its peers. */
  misaddressed: number
  /** Streams opened to peers (the first ones and every reconnection). */
  streamsOpened: number
  /** Messages received and dropped at the gate (message-check.ts), by reason. */
  rejected: RejectionCounts
}

export interface GrpcTransportOptions {
  /** This node's TLS material (readNodeTls): mutual TLS to and from peers. Default: plaintext. */
  tls?: NodeTls
  /** Where rejected messages are reported (rate-limited); default: not reported, only counted. */
  logger?: { warn(message: string): void }
}

/** What happened on the way to one peer, for metrics by peer. */
export interface PeerCounts {
  /** Messages handed to the peer's stream. */
  sent: number
  /** Messages for the peer dropped: a full queue, a broken stream, a closed transport. */
  dropped: number
  /** Streams to the peer that ended with an error (the peer down, a connection lost). */
  streamErrors: number
  /** Log entries handed to the peer's stream in AppendEntries (an entry sent twice counts twice). */
  entriesSent: number
  /** Payload bytes of those entries: what replication cost on the link to the peer. */
  entryBytesSent: number
}

function emptyPeerCounts(): PeerCounts {
  return { sent: 0, dropped: 0, streamErrors: 0, entriesSent: 0, entryBytesSent: 0 }
}

/** The stream to one peer and what waits for it. */
class PeerStream {
  private call: grpc.ClientWritableStream<unknown> | undefined
  private queue: RaftMessage[] = []
  private queuedBytes = 0
  private flushScheduled = false
  /** The stream's buffer is full: wait for 'drain'. */
  private draining = false
  private failures = 0
  private retryAt = 0
  private closed = false

  constructor(
    private readonly client: StreamStub,
    private readonly counts: TransportCounts,
    private readonly peerCounts: PeerCounts,
    private readonly clusterId: () => { clusterId: string; clusterToken: string },
    /** The peer ended the stream saying this node was removed from the cluster. */
    private readonly onRemoved: () => void,
  ) {}

  send(message: RaftMessage): void {
    const bytes = payloadBytes(message)
    if (this.closed || this.queue.length >= maxQueuedMessagesPerPeer || (this.queue.length > 0 && this.queuedBytes + bytes > maxQueuedBytesPerPeer)) {
      this.drop(1)
      return
    }
    this.queue.push(message)
    this.queuedBytes += bytes
    // Everything sent before this task ends goes in one batch (a Ready's messages are sent
    // together), without waiting for another turn of the event loop.
    if (!this.flushScheduled) {
      this.flushScheduled = true
      queueMicrotask(() => {
        this.flushScheduled = false
        this.flush()
      })
    }
  }

  close(): void {
    this.closed = true
    this.drop(this.queue.length)
    this.queue = []
    this.queuedBytes = 0
    this.call?.end()
    this.call = undefined
  }

  private flush(): void {
    while (this.queue.length > 0 && !this.draining && !this.closed) {
      const call = this.stream()
      if (call === undefined) {
        // Broken and waiting to reconnect: what is queued now would be stale by then.
        this.drop(this.queue.length)
        this.queue = []
        this.queuedBytes = 0
        return
      }
      const batch = this.takeBatch()
      this.counts.sent += batch.length
      this.peerCounts.sent += batch.length
      for (const message of batch) if (message.type === 'AppendEntries') this.countEntries(message.entries)
      this.counts.batches++
      if (!call.write({ messages: batch.map(toEnvelope), ...this.clusterId() })) {
        this.draining = true
        call.once('drain', () => {
          this.draining = false
          this.flush()
        })
      }
    }
  }

  private countEntries(entries: readonly { data: Uint8Array }[]): void {
    this.peerCounts.entriesSent += entries.length
    for (const entry of entries) this.peerCounts.entryBytesSent += entry.data.length
  }

  private drop(messages: number): void {
    this.counts.dropped += messages
    this.peerCounts.dropped += messages
  }

  /** Messages from the front of the queue, up to maxBatchBytes (at least one). */
  private takeBatch(): RaftMessage[] {
    let bytes = 0
    let count = 0
    while (count < this.queue.length) {
      const size = payloadBytes(this.queue[count] as RaftMessage)
      if (count > 0 && bytes + size > maxBatchBytes) break
      bytes += size
      count++
    }
    this.queuedBytes -= bytes
    return this.queue.splice(0, count)
  }

  /** The open stream, or a new one; undefined while a broken one waits to be opened again. */
  private stream(): grpc.ClientWritableStream<unknown> | undefined {
    if (this.call !== undefined) return this.call
    if (Date.now() < this.retryAt) return undefined
    const openedAt = Date.now()
    const call = this.client.Stream((error) => {
      if (error?.code === grpc.status.PERMISSION_DENIED && error.details.startsWith(removedStatusPrefix)) this.onRemoved()
      // The stream ended: on an error, open the next one only after a pause, longer each time
      // the streams keep failing quickly (a peer that is down), afresh after one that lived.
      if (this.call === call) this.call = undefined
      this.draining = false
      if (error !== null && !this.closed) {
        this.peerCounts.streamErrors++
        this.failures = Date.now() - openedAt > reconnectMaxMs ? 1 : this.failures + 1
        this.retryAt = Date.now() + Math.min(reconnectMaxMs, reconnectMinMs * 2 ** (this.failures - 1))
      }
    })
    // A write to a stream that breaks meanwhile fails here too; the callback above has it.
    call.on('error', () => {})
    this.call = call
    this.counts.streamsOpened++
    return call
  }
}

function payloadBytes(message: RaftMessage): number {
  if (message.type === 'AppendEntries') {
    let bytes = 64
    for (const entry of message.entries) bytes += entry.data.length + 32
    return bytes
  }
  if (message.type === 'SnapshotChunk') return 64 + message.data.length
  return 64
}

/**
 * A node's Transport between processes: one long-lived gRPC stream to each peer carrying batches of
 * messages from bounded queues that drop rather than block, and the gate every inbound message
 * passes (message-check.ts).
 */
export class GrpcTransport implements Transport {
  private readonly peers = new Map<number, string>()
  private readonly streams = new Map<number, PeerStream>()
  private readonly clients = new Map<number, grpc.Client>()
  private handler: ((message: RaftMessage) => void) | undefined
  private removedHandler: ((by: number) => void) | undefined
  /** Ids a committed configuration removed: their messages are refused, their streams ended. */
  private removed: ReadonlySet<number> = new Set()
  private closed = false
  /** This node's cluster; '' until known (a node that joins learns it from the cluster). */
  private clusterId = ''
  /** The random part of the cluster's identity, once committed ('' before). */
  private clusterToken = ''
  readonly counts: TransportCounts = { sent: 0, batches: 0, dropped: 0, received: 0, misaddressed: 0, streamsOpened: 0, rejected: emptyRejectionCounts() }
  /** The same, for each peer. */
  readonly peerCounts = new Map<number, PeerCounts>()
  private readonly rejections: RejectionLog

  constructor(
    readonly id: number,
    peers: PeerAddress[],
    private readonly options: GrpcTransportOptions = {},
  ) {
    this.rejections = new RejectionLog(this.counts.rejected, options.logger?.warn.bind(options.logger))
    for (const peer of peers) {
      if (peer.id === id) continue
      this.peers.set(peer.id, peer.address)
      this.peerCounts.set(peer.id, emptyPeerCounts())
    }
  }

  /**
   * The members' addresses, from the configuration in use: a new member gets a stream, a member
   * at a new address a new one. A member that leaves is kept: until C_new commits, the leader
   * that removes itself still leads (and a removed node still hears that it was removed).
   */
  setAddresses(addresses: Record<number, string>): void {
    for (const [key, address] of Object.entries(addresses)) {
      const id = Number(key)
      if (id === this.id || address === '' || this.peers.get(id) === address) continue
      this.forget(id)
      this.peers.set(id, address)
      if (!this.peerCounts.has(id)) this.peerCounts.set(id, emptyPeerCounts())
    }
  }

  setClusterToken(token: string): void {
    this.clusterToken = token
  }

  setRemoved(ids: readonly number[]): void {
    this.removed = new Set(ids)
  }

  onRemoved(handler: (by: number) => void): void {
    this.removedHandler = handler
  }

  /** Batches go out with this cluster id, and batches with another are dropped (counted as rejected: other-cluster). */
  setClusterId(clusterId: string): void {
    this.clusterId = clusterId
  }

  /** Messages dropped so far (a full queue, no stream, a closed transport). */
  get dropped(): number {
    return this.counts.dropped
  }

  /** Messages received that were not for this node or came from a stranger. */
  get misaddressed(): number {
    return this.counts.misaddressed
  }

  send(message: RaftMessage): void {
    // InstallSnapshot is the core's note to its driver; its file travels as SnapshotChunks.
    if (message.type === 'InstallSnapshot') return
    const stream = this.stream(message.to)
    if (stream === undefined) this.counts.dropped++
    else stream.send(message)
  }

  onMessage(handler: (message: RaftMessage) => void): void {
    this.handler = handler
  }

  /** The RaftTransport service for this node's gRPC server: each peer's stream, checked and delivered (inbound-stream.ts). */
  service(): { definition: grpc.ServiceDefinition; implementation: grpc.UntypedServiceImplementation } {
    const inbound = {
      self: this.id,
      isMember: (id: number) => this.peers.has(id),
      isRemoved: (id: number) => this.removed.has(id),
      tls: this.options.tls,
      deliver: (message: RaftMessage) => this.deliver(message),
      reject: (reason: RejectReason, detail: string, messages?: number) => this.reject(reason, detail, messages),
      clusterId: () => this.clusterId,
      clusterToken: () => this.clusterToken,
    }
    const implementation: grpc.UntypedServiceImplementation = {
      Stream: (call: grpc.ServerReadableStream<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => serveInboundStream(call, callback, inbound),
    }
    return { definition: safeDefinition(protocol.RaftTransport.service), implementation }
  }

  async close(): Promise<void> {
    this.closed = true
    for (const stream of this.streams.values()) stream.close()
    this.streams.clear()
    for (const client of this.clients.values()) client.close()
    this.clients.clear()
  }

  /** A message that passed the gate (message-check.ts). */
  private deliver(message: RaftMessage): void {
    // Closed, or not started yet (a joining node serves before its node exists): Raft resends.
    if (this.closed || this.handler === undefined) return
    this.counts.received++
    this.handler?.(message)
  }

  private reject(reason: RejectReason, detail: string, messages = 1): void {
    // A message for another node or from a stranger: two clusters may share an address.
    if (reason === 'misaddressed' || reason === 'not-member') this.counts.misaddressed += messages
    this.rejections.reject(reason, detail, messages)
  }

  /** Closes the stream to `peer` (its address changed) and forgets the old address. */
  private forget(peer: number): void {
    this.peers.delete(peer)
    const stream = this.streams.get(peer)
    if (stream === undefined) return
    stream.close()
    this.streams.delete(peer)
    const client = this.clients.get(peer)
    client?.close()
    this.clients.delete(peer)
  }

  private stream(peer: number): PeerStream | undefined {
    let stream = this.streams.get(peer)
    if (stream === undefined && !this.closed) {
      const address = this.peers.get(peer)
      if (address === undefined) return undefined
      const client = new protocol.RaftTransport(address, peerChannelCredentials(this.options.tls, peer), channelOptions) as unknown as StreamStub
      this.clients.set(peer, client)
      stream = new PeerStream(client, this.counts, this.peerCounts.get(peer) as PeerCounts, () => ({ clusterId: this.clusterId, clusterToken: this.clusterToken }), () => this.removedHandler?.(peer))
      this.streams.set(peer, stream)
    }
    return stream
  }
}
