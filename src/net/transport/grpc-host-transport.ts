// RaftHost's transport over gRPC: one long-lived stream to each peer host carries every group's
// Raft messages for it, a turn's worth per batch, with the quiet groups' notices (the
// RaftHosts service of proto/raftlog.proto). The receiving end checks every message as the
// single-group transport does (message-check.ts: the sender is the stream's host, a member, the
// message addressed here, its fields in range) and drops what fails; with peer TLS a stream
// speaks for the host its certificate names.
import * as grpc from '@grpc/grpc-js'
import type { RaftMessage } from '../../raft/core/messages.js'
import type { GroupMessage, HostBatch, HostTransport, QuiesceNotice } from '../../host/host-batch.js'
import { protocol, toEnvelope, fromEnvelope } from '../protocol.js'
import { checkMessage } from './message-check.js'
import { peerNodeId, type CallWithAuth } from '../tls/call-identity.js'
import { peerChannelCredentials } from '../tls/tls-credentials.js'
import type { NodeTls } from '../tls/tls-files.js'
import type { PeerAddress } from './grpc-transport.js'
import { maxGrpcMessageBytes } from './grpc-transport.js'

/** Batches waiting for a stream that cannot take them (draining) before new ones are dropped: Raft sends again. */
export const maxQueuedBatchesPerHost = 256
/** Group ids on the wire: whole numbers up to the engine's limit. */
const maxGroupId = 2 ** 52 - 1
const reconnectMinMs = 50
const reconnectMaxMs = 2000
const channelOptions: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': maxGrpcMessageBytes,
  'grpc.max_send_message_length': maxGrpcMessageBytes,
  'grpc.initial_reconnect_backoff_ms': reconnectMinMs,
  'grpc.max_reconnect_backoff_ms': reconnectMaxMs,
  // No channelz tracing: raftlog serves no channelz service, and it costs every message.
  'grpc.enable_channelz': 0,
}

export interface HostTransportCounts {
  batchesSent: number
  batchesReceived: number
  /** Batches dropped on the way out (no stream, a full queue). */
  dropped: number
  /** Messages refused on the way in, and why. */
  rejected: number
  streamsOpened: number
}

interface WireBatch {
  from?: number
  messages?: { group?: number; message?: Record<string, unknown> }[]
  quiesce?: { group?: number; term?: number; lastIndex?: number }[]
}

type StreamStub = grpc.Client & { Stream(callback: (error: grpc.ServiceError | null) => void): grpc.ClientWritableStream<unknown> }

class HostStream {
  private call: grpc.ClientWritableStream<unknown> | undefined
  private queue: WireBatch[] = []
  private draining = false
  private retryAt = 0
  private failures = 0
  private closed = false

  constructor(
    private readonly client: StreamStub,
    private readonly counts: HostTransportCounts,
  ) {}

  send(batch: WireBatch): void {
    if (this.closed || this.queue.length >= maxQueuedBatchesPerHost) {
      this.counts.dropped++
      return
    }
    this.queue.push(batch)
    this.flush()
  }

  close(): void {
    this.closed = true
    this.counts.dropped += this.queue.length
    this.queue = []
    this.call?.end()
    this.call = undefined
  }

  private flush(): void {
    while (this.queue.length > 0 && !this.draining && !this.closed) {
      const call = this.stream()
      if (call === undefined) {
        // Broken and waiting to reconnect: what is queued would be stale by then.
        this.counts.dropped += this.queue.length
        this.queue = []
        return
      }
      this.counts.batchesSent++
      if (!call.write(this.queue.shift())) {
        this.draining = true
        call.once('drain', () => {
          this.draining = false
          this.flush()
        })
      }
    }
  }

  private stream(): grpc.ClientWritableStream<unknown> | undefined {
    if (this.call !== undefined) return this.call
    if (Date.now() < this.retryAt) return undefined
    const openedAt = Date.now()
    const call = this.client.Stream((error) => {
      if (this.call === call) this.call = undefined
      this.draining = false
      if (error !== null && !this.closed) {
        // A peer that keeps failing at once is tried less often; one that lived is tried again soon.
        this.failures = Date.now() - openedAt > reconnectMaxMs ? 1 : this.failures + 1
        this.retryAt = Date.now() + Math.min(reconnectMaxMs, reconnectMinMs * 2 ** (this.failures - 1))
      }
    })
    call.on('error', () => {})
    this.call = call
    this.counts.streamsOpened++
    return call
  }
}

export class GrpcHostTransport implements HostTransport {
  readonly counts: HostTransportCounts = { batchesSent: 0, batchesReceived: 0, dropped: 0, rejected: 0, streamsOpened: 0 }
  private readonly peers = new Map<number, string>()
  private readonly streams = new Map<number, HostStream>()
  private readonly clients: grpc.Client[] = []
  private handler: ((batch: HostBatch) => void) | undefined
  private closed = false

  /** `hosts`: every host of the cluster and its address (this one's is ignored). */
  constructor(
    readonly nodeId: number,
    hosts: readonly PeerAddress[],
    private readonly tls?: NodeTls,
  ) {
    for (const host of hosts) if (host.id !== nodeId) this.peers.set(host.id, host.address)
  }

  send(to: number, batch: HostBatch): void {
    const stream = this.streamTo(to)
    if (stream === undefined) {
      this.counts.dropped++
      return
    }
    stream.send({
      from: this.nodeId,
      messages: batch.messages.map(({ group, message }) => ({ group, message: toEnvelope(message) })),
      quiesce: batch.quiesce.map((notice) => ({ group: notice.group, term: notice.term, lastIndex: notice.lastIndex })),
    })
  }

  /**
   * Host `id` serves at `address` from now on: a host that joined the cluster (it may send here,
   * and batches go to it there), or one that moved (its stream is opened again at the new address).
   */
  setPeer(id: number, address: string): void {
    if (id === this.nodeId || this.peers.get(id) === address) return
    this.peers.set(id, address)
    this.streams.get(id)?.close()
    this.streams.delete(id)
  }

  /** Where batches that passed the checks go (RaftHost.receive). */
  onBatch(handler: (batch: HostBatch) => void): void {
    this.handler = handler
  }

  /** The RaftHosts service for this host's gRPC server. */
  service(): { definition: grpc.ServiceDefinition; implementation: grpc.UntypedServiceImplementation } {
    return {
      definition: protocol.RaftHosts.service,
      implementation: {
        Stream: (call: grpc.ServerReadableStream<WireBatch, unknown> & CallWithAuth, callback: grpc.sendUnaryData<unknown>) => this.serve(call, callback),
      },
    }
  }

  close(): void {
    this.closed = true
    for (const stream of this.streams.values()) stream.close()
    this.streams.clear()
    for (const client of this.clients) client.close()
  }

  private serve(call: grpc.ServerReadableStream<WireBatch, unknown> & CallWithAuth, callback: grpc.sendUnaryData<unknown>): void {
    call.on('error', () => {})
    const certified = this.tls === undefined ? undefined : peerNodeId(call, this.tls)
    if (this.tls !== undefined && certified === undefined) {
      callback({ code: grpc.status.UNAUTHENTICATED, details: 'A host stream needs a certificate from the cluster CA that names a node (URI SAN raftlog://node/<id>)' })
      return
    }
    call.on('data', (wire: WireBatch) => {
      const batch = this.checked(wire, certified)
      if (batch !== undefined && !this.closed) {
        this.counts.batchesReceived++
        this.handler?.(batch)
      }
    })
    call.on('end', () => callback(null, {}))
  }

  /** The batch with what passed the checks, or undefined when its sender may not speak here. */
  private checked(wire: WireBatch, certified: number | undefined): HostBatch | undefined {
    const from = Number(wire.from ?? 0)
    // Plaintext proves nothing: the batch names its host. Under TLS it must be the certificate's.
    if (!this.peers.has(from) || (certified !== undefined && certified !== from)) {
      this.counts.rejected += (wire.messages?.length ?? 0) + 1
      return undefined
    }
    const messages: GroupMessage[] = []
    for (const { group, message } of wire.messages ?? []) {
      let decoded: RaftMessage | undefined
      try {
        decoded = message === undefined || message === null ? undefined : fromEnvelope(message)
      } catch {
        decoded = undefined
      }
      const groupId = Number(group ?? 0)
      const ok = decoded !== undefined && Number.isSafeInteger(groupId) && groupId >= 1 && groupId <= maxGroupId && checkMessage(decoded, { self: this.nodeId, isMember: (id) => this.peers.has(id), streamSender: from }) === undefined
      if (ok) messages.push({ group: groupId, message: decoded as RaftMessage })
      else this.counts.rejected++
    }
    const quiesce: QuiesceNotice[] = []
    for (const notice of wire.quiesce ?? []) {
      const fields = [Number(notice.group ?? 0), Number(notice.term ?? 0), Number(notice.lastIndex ?? 0)]
      if (fields.every((value) => Number.isSafeInteger(value) && value >= 0) && (fields[0] as number) >= 1) quiesce.push({ group: fields[0] as number, term: fields[1] as number, lastIndex: fields[2] as number })
      else this.counts.rejected++
    }
    return { from, messages, quiesce }
  }

  private streamTo(host: number): HostStream | undefined {
    let stream = this.streams.get(host)
    if (stream === undefined && !this.closed) {
      const address = this.peers.get(host)
      if (address === undefined) return undefined
      const client = new protocol.RaftHosts(address, peerChannelCredentials(this.tls, host), channelOptions) as unknown as StreamStub
      this.clients.push(client)
      stream = new HostStream(client, this.counts)
      this.streams.set(host, stream)
    }
    return stream
  }
}
