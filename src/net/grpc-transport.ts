// The Transport of a node in a real cluster: Raft messages as unary gRPC calls, one channel per
// peer (made on first use, reconnecting with backoff), each call with a deadline. A message that
// cannot be delivered is dropped, as Raft expects of a network.
import * as grpc from '@grpc/grpc-js'
import type { RaftMessage } from '../raft/messages.js'
import type { Transport } from '../raft/transport.js'
import { fromWire, protocol, raftMethods, toWire } from './protocol.js'

export interface PeerAddress {
  id: number
  /** host:port of the peer's gRPC server. */
  address: string
}

/** Calls to one peer that may wait for an answer before new ones are dropped. */
export const maxInflightCallsPerPeer = 512
export const raftCallDeadlineMs = 2000
/** Largest gRPC message sent or received, both ways: an AppendEntries batch or a client call. */
export const maxGrpcMessageBytes = 64 * 1024 * 1024

const channelOptions: grpc.ChannelOptions = {
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 2000,
  'grpc.keepalive_time_ms': 10_000,
  'grpc.max_receive_message_length': maxGrpcMessageBytes,
  'grpc.max_send_message_length': maxGrpcMessageBytes,
}

type RaftClientStub = grpc.Client & Record<string, (request: unknown, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null) => void) => void>

export class GrpcTransport implements Transport {
  private readonly peers = new Map<number, string>()
  private readonly clients = new Map<number, RaftClientStub>()
  private readonly inflight = new Map<number, number>()
  private handler: ((message: RaftMessage) => void) | undefined
  private closed = false
  /** Messages that could not be delivered, for status and tests. */
  dropped = 0
  /** Messages received that were not addressed to this node or came from outside its peers. */
  misaddressed = 0

  constructor(
    readonly id: number,
    peers: PeerAddress[],
  ) {
    for (const peer of peers) if (peer.id !== id) this.peers.set(peer.id, peer.address)
  }

  send(message: RaftMessage): void {
    // InstallSnapshot is the core's note to its driver; its file travels as SnapshotChunks.
    if (message.type === 'InstallSnapshot') return
    const client = this.client(message.to)
    const inflight = this.inflight.get(message.to) ?? 0
    if (client === undefined || this.closed || inflight >= maxInflightCallsPerPeer) {
      this.dropped++
      return
    }
    this.inflight.set(message.to, inflight + 1)
    const call = client[message.type] as RaftClientStub[string]
    call.call(client, toWire(message), { deadline: Date.now() + raftCallDeadlineMs }, (error) => {
      this.inflight.set(message.to, (this.inflight.get(message.to) ?? 1) - 1)
      if (error !== null) this.dropped++
    })
  }

  onMessage(handler: (message: RaftMessage) => void): void {
    this.handler = handler
  }

  /** The RaftTransport service for this node's gRPC server: deliver, then acknowledge. */
  service(): { definition: grpc.ServiceDefinition; implementation: grpc.UntypedServiceImplementation } {
    const implementation: grpc.UntypedServiceImplementation = {}
    for (const method of raftMethods) {
      implementation[method] = (call: grpc.ServerUnaryCall<Record<string, unknown>, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        callback(null, {})
        const message = fromWire(method, call.request)
        // A message for another node or from a stranger means two clusters share an address: drop it.
        if (message.to !== this.id || !this.peers.has(message.from)) {
          this.misaddressed++
          return
        }
        if (!this.closed) this.handler?.(message)
      }
    }
    return { definition: protocol.RaftTransport.service, implementation }
  }

  async close(): Promise<void> {
    this.closed = true
    for (const client of this.clients.values()) client.close()
    this.clients.clear()
  }

  private client(peer: number): RaftClientStub | undefined {
    let client = this.clients.get(peer)
    if (client === undefined && !this.closed) {
      const address = this.peers.get(peer)
      if (address === undefined) return undefined
      client = new protocol.RaftTransport(address, grpc.credentials.createInsecure(), channelOptions) as unknown as RaftClientStub
      this.clients.set(peer, client)
    }
    return client
  }
}
