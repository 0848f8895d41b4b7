// The receiving end of a peer's Raft stream: who may speak on it, and every message of every
// batch checked (message-check.ts) before it is delivered to the node. With peer TLS the stream
// speaks for the node its certificate names, and a stream without such a certificate is refused
// at once (UNAUTHENTICATED). In plaintext nothing proves who is calling: the stream speaks for
// the node its first message names, and only members' messages with fields in range get through.
import * as grpc from '@grpc/grpc-js'
import type { RaftMessage } from '../../raft/core/messages.js'
import { peerNodeId, type CallWithAuth } from '../tls/call-identity.js'
import { checkClusterId, checkMessage, describeClusterId, removedNotice, type RejectReason } from './message-check.js'
import { fromEnvelope } from '../protocol.js'
import type { NodeTls } from '../tls/tls-files.js'

/** A RaftBatch as proto-loader decodes it, or the mark of bytes that did not decode. */
export interface InboundBatch {
  messages?: Record<string, unknown>[]
  /** Set by the membership work's RaftBatch (cluster_id); absent until then. */
  clusterId?: string
  /** The random part of the sender's cluster identity, once it knows it. */
  clusterToken?: string
  /** Set by safeDefinition when the bytes were not a RaftBatch. */
  undecodable?: true
}

export interface InboundOptions {
  /** This node's id. */
  self: number
  /** Whether `id` is a current member other than this node. */
  isMember(id: number): boolean
  /** Whether a committed configuration removed `id`: its stream is ended with a notice saying so. */
  isRemoved?(id: number): boolean
  /** This node's TLS material; undefined: plaintext. */
  tls: NodeTls | undefined
  /** A message that passed every check. */
  deliver(message: RaftMessage): void
  /** Counts (and logs) `messages` dropped for `reason`. */
  reject(reason: RejectReason, detail: string, messages?: number): void
  /** This node's cluster id, once known (the membership work's setClusterId); undefined: not checked. */
  clusterId?(): string | undefined
  /** This node's cluster token, once committed ('' before). */
  clusterToken?(): string
}

type StreamCall = grpc.ServerReadableStream<InboundBatch, unknown> & CallWithAuth

/**
 * The RaftTransport service definition with a request decoder that never throws: bytes that are
 * not a RaftBatch become a batch marked undecodable, counted as dropped, and the stream goes on
 * (grpc-js would otherwise end the call with an error no one counts).
 */
export function safeDefinition(definition: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const stream = definition.Stream as grpc.MethodDefinition<InboundBatch, unknown>
  const decode = stream.requestDeserialize
  const requestDeserialize = (bytes: Buffer): InboundBatch => {
    try {
      return decode(bytes)
    } catch {
      return { undecodable: true }
    }
  }
  return { ...definition, Stream: { ...stream, requestDeserialize } }
}

/** Serves one peer's stream until it ends. */
export function serveInboundStream(call: StreamCall, callback: grpc.sendUnaryData<unknown>, options: InboundOptions): void {
  call.on('error', () => {})
  const peer = call.getPeer()
  let sender: number | undefined
  if (options.tls !== undefined) {
    sender = peerNodeId(call, options.tls)
    if (sender === undefined) {
      options.reject('unauthenticated', `refused a Raft stream from ${peer}: no certificate from the cluster CA naming a node`)
      callback({ code: grpc.status.UNAUTHENTICATED, details: 'A Raft stream needs a certificate from the cluster CA that names a node (URI SAN raftlog://node/<id>)' })
      return
    }
  }
  let ended = false
  const endAsRemoved = (id: number): void => {
    ended = true
    callback({ code: grpc.status.PERMISSION_DENIED, details: removedNotice(id, options.self) })
  }
  if (sender !== undefined && options.isRemoved?.(sender) === true) {
    options.reject('removed', `refused a Raft stream of removed node ${sender} from ${peer}`)
    return endAsRemoved(sender)
  }
  call.on('data', (batch: InboundBatch) => {
    if (ended) return
    if (batch.undecodable === true) return options.reject('undecodable', `bytes from ${peer} that are not a RaftBatch`)
    const messages = Array.isArray(batch.messages) ? batch.messages : []
    const otherCluster = checkClusterId(options.clusterId?.(), batch.clusterId, options.clusterToken?.() ?? '', batch.clusterToken ?? '')
    if (otherCluster !== undefined) return options.reject(otherCluster, `a batch of ${describeClusterId(batch.clusterId)} from ${peer}`, messages.length)
    for (const envelope of messages) {
      const message = decodeEnvelope(envelope)
      if (message === undefined) {
        options.reject('unknown-type', `an envelope of no known message type from ${peer}`)
        continue
      }
      // Plaintext: the first message names the stream's node; every later one must name the same.
      sender ??= message.from
      const reason = checkMessage(message, { self: options.self, isMember: options.isMember, ...(options.isRemoved === undefined ? {} : { isRemoved: options.isRemoved }), streamSender: sender })
      if (reason === undefined) options.deliver(message)
      else options.reject(reason, `${message.type} from node ${message.from} to node ${message.to} on a stream of node ${sender} from ${peer}`)
      if (reason === 'removed') return endAsRemoved(sender)
    }
  })
  call.on('end', () => {
    if (!ended) callback(null, {})
  })
}

/** The envelope's message, or undefined for an empty, unknown or malformed one. */
function decodeEnvelope(envelope: Record<string, unknown>): RaftMessage | undefined {
  try {
    return envelope !== null && typeof envelope === 'object' ? fromEnvelope(envelope) : undefined
  } catch {
    return undefined
  }
}
