// The Transport of a node in a real cluster: one long-lived gRPC stream to each peer, carrying
// every Raft message for it in batches (all messages sent in one task go in one batch). Nothing is answered on a stream; answers are messages on the peer's own stream.
// A queue per peer is bounded: when a peer (or the network) is slow, new messages are dropped,
// never waited for, as Raft expects of a network. A broken stream is opened again on the next
// message, with a growing pause between attempts.
import * as grpc from '@grpc/grpc-js'
import type { RaftMessage } from '../raft/messages.js'
import type { Transport } from '../raft/transport.js'
import { fromEnvelope, protocol, toEnvelope } from './protocol.js'

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
/** Largest gRPC message sent or received, both ways: a batch, or a client call. */
export const maxGrpcMessageBytes = 64 * 1024 * 1024
/** Pause before opening a broken stream again: doubled per failure up to the maximum. */
const reconnectMinMs = 50
const reconnectMaxMs = 2000

const channelOptions: grpc.ChannelOptions = {
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 2000,
  'grpc.keepalive_time_ms': 10_000,
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
  /** Messages received in batches of another cluster (another cluster id). */
  wrongCluster: number
  /** Streams opened to peers (the first ones and every reconnection). */
  streamsOpened: number
}

/** What happened on the way to one peer, for metrics by peer. */
export interface PeerCounts {
  /** Messages handed to the peer's stream. */
  sent: number
  /** Messages for the peer dropped: a full queue, a broken stream, a closed transport. */
  dropped: number
  /** Streams to the peer that ended with an error (the peer down, a connection lost). */
  streamErrors: number
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
    private readonly clusterId: () => string,
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
      this.counts.batches++
      if (!call.write({ messages: batch.map(toEnvelope), clusterId: this.clusterId() })) {
        this.draining = true
        call.once('drain', () => {
          this.draining = false
          this.flush()
        })
      }
    }
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

export class GrpcTransport implements Transport {
  private readonly peers = new Map<number, string>()
  private readonly streams = new Map<number, PeerStream>()
  private readonly clients = new Map<number, grpc.Client>()
  private handler: ((message: RaftMessage) => void) | undefined
  private closed = false
  /** This node's cluster; '' until known (a node that joins learns it from the cluster). */
  private clusterId = ''
  readonly counts: TransportCounts = { sent: 0, batches: 0, dropped: 0, received: 0, misaddressed: 0, wrongCluster: 0, streamsOpened: 0 }
  /** The same, for each peer. */
  readonly peerCounts = new Map<number, PeerCounts>()

  constructor(
    readonly id: number,
    peers: PeerAddress[],
  ) {
    for (const peer of peers) {
      if (peer.id === id) continue
      this.peers.set(peer.id, peer.address)
      this.peerCounts.set(peer.id, { sent: 0, dropped: 0, streamErrors: 0 })
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
      if (!this.peerCounts.has(id)) this.peerCounts.set(id, { sent: 0, dropped: 0, streamErrors: 0 })
    }
  }

  /** Batches go out with this cluster id, and batches with another are dropped (counted in wrongCluster). */
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

  /** The RaftTransport service for this node's gRPC server: each peer's stream, delivered. */
  service(): { definition: grpc.ServiceDefinition; implementation: grpc.UntypedServiceImplementation } {
    const implementation: grpc.UntypedServiceImplementation = {
      Stream: (call: grpc.ServerReadableStream<{ messages: Record<string, unknown>[] }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        call.on('data', (batch: { messages?: Record<string, unknown>[]; clusterId?: string }) => {
          const messages = batch.messages ?? []
          // Another cluster's node at an address of ours (a reused address, a node started
          // afresh from an edited YAML file): nothing it says may reach this cluster's core.
          if (this.clusterId !== '' && batch.clusterId !== this.clusterId) {
            this.counts.wrongCluster += messages.length
            return
          }
          for (const envelope of messages) this.deliver(envelope)
        })
        call.on('end', () => callback(null, {}))
        call.on('error', () => {})
      },
    }
    return { definition: protocol.RaftTransport.service, implementation }
  }

  async close(): Promise<void> {
    this.closed = true
    for (const stream of this.streams.values()) stream.close()
    this.streams.clear()
    for (const client of this.clients.values()) client.close()
    this.clients.clear()
  }

  private deliver(envelope: Record<string, unknown>): void {
    const message = fromEnvelope(envelope)
    // A message for another node or from a stranger means two clusters share an address: drop it.
    if (message === undefined || message.to !== this.id || !this.peers.has(message.from)) {
      this.counts.misaddressed++
      return
    }
    if (this.closed) return
    this.counts.received++
    this.handler?.(message)
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
      const client = new protocol.RaftTransport(address, grpc.credentials.createInsecure(), channelOptions) as unknown as StreamStub
      this.clients.set(peer, client)
      stream = new PeerStream(client, this.counts, this.peerCounts.get(peer) as PeerCounts, () => this.clusterId)
      this.streams.set(peer, stream)
    }
    return stream
  }
}
