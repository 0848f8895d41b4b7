// Many unary calls on one bidirectional stream (RaftClient.Calls, RaftHostClient.Calls). Each
// request names its method by the oneof field it sets and carries the caller's id; the answer
// carries the id back with the reply, or with the status the unary call would have ended with.
// The unary methods' own handlers answer them, so both ways answer alike. Why a stream: on this
// machine a grpc-js unary call costs a server 75–82 µs of CPU, a stream message 14–15 µs, and a
// client process tops out near 3,500 unary calls a second.
import * as grpc from '@grpc/grpc-js'
import { maxGrpcMessageBytes } from '../transport/grpc-transport.js'

/** A unary method's handler, as a service implementation holds it. */
export type UnaryHandler = (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => void

/** CallRequest or GroupCallRequest, as proto-loader decodes it (oneofs: `call` names the field set). */
interface CallRequest {
  id: number
  call?: string
  [field: string]: unknown
}

/** CallReply. */
interface CallReply {
  id: number
  reply?: unknown
  code?: number
  details?: string
}

/** Bytes of a CallReply beyond its reply's result: the id, the fields' tags and lengths (a bound). */
const replyOverheadBytes = 64

/** The calls in progress on the Calls streams of one connection, and how to wake each of its streams. */
interface Connection {
  inFlight: number
  streams: Set<() => void>
}

/**
 * The Calls handler over `methods` (a request's oneof field → that unary method's handler, e.g.
 * `{ propose: implementation.Propose, read: implementation.Read }`). A request whose field has
 * no handler is answered UNIMPLEMENTED. At most `maxInFlight` calls of one connection are in
 * progress, however many Calls streams it opens (as many as its unary calls could be: a stream
 * each, max_concurrent_streams): past that, and while the client does not take its answers, a
 * stream is not read (HTTP/2 flow control then holds the client back), so one connection never
 * queues more work than that. `open`, when given, holds a function for each open stream that ends
 * it as a client's last request would: nothing more is read, and it ends once its calls are answered
 * (a server that stops calls them all, else clients keep their streams open through its grace period).
 * A reply larger than `maxReplyBytes` (what raftlog's clients take in one message) is answered
 * RESOURCE_EXHAUSTED, as its unary call fails: written, it would end the client's whole stream.
 */
export function multiplexedCalls(methods: Record<string, UnaryHandler | undefined>, maxInFlight: number, open?: Set<() => void>, maxReplyBytes = maxGrpcMessageBytes): grpc.handleBidiStreamingCall<CallRequest, CallReply> {
  /** By peer (address:port, one per connection). */
  const connections = new Map<string, Connection>()
  return (stream) => {
    const peer = stream.getPeer()
    // A transport that names no peer: its streams are counted each on its own.
    const shared = peer === 'unknown' ? undefined : connections.get(peer)
    const connection: Connection = shared ?? { inFlight: 0, streams: new Set() }
    if (shared === undefined && peer !== 'unknown') connections.set(peer, connection)
    /** No more calls from this stream; its connection's entry goes with the last of its streams and counted calls. */
    const forget = (): void => {
      open?.delete(finish)
      connection.streams.delete(flow)
      if (connection.streams.size === 0 && connection.inFlight === 0 && connections.get(peer) === connection) connections.delete(peer)
    }
    /** This stream's calls not yet answered. */
    let inFlight = 0
    /**
     * This stream's calls in the connection's count: not yet answered, or answered and not yet
     * taken by the client (a unary call's stream stays open until then too), so that a client that
     * takes no answers leaves at most the connection's limit of them waiting in the node's memory.
     */
    let counted = 0
    /** The client has not taken the answers written so far (write() said so): wait for 'drain'. */
    let backedUp = false
    /** The client sent its last request: end the stream once every call is answered. */
    let requestsEnded = false
    let closed = false
    const flow = (): void => {
      if (closed) return
      if (connection.inFlight >= maxInFlight || backedUp || requestsEnded) stream.pause()
      else stream.resume()
    }
    connection.streams.add(flow)
    /** `count` calls of this stream no longer count against the connection. */
    const release = (count: number): void => {
      const before = connection.inFlight
      connection.inFlight -= count
      // At the limit until now: the connection's streams may read again.
      if (before >= maxInFlight && connection.inFlight < maxInFlight) for (const wake of connection.streams) wake()
    }
    /** Cancelled: its calls stopped counting then. */
    let gone = false
    const answer = (reply: CallReply): void => {
      inFlight--
      if (closed) return
      const taken = (): void => {
        if (gone) return
        counted--
        release(1)
        if (closed) forget()
      }
      if (!stream.write(reply, taken)) backedUp = true
      if (requestsEnded && inFlight === 0) {
        closed = true
        forget()
        stream.end()
        return
      }
      flow()
    }
    stream.on('drain', () => {
      backedUp = false
      flow()
    })
    const finish = (): void => {
      requestsEnded = true
      flow()
      if (inFlight === 0 && !closed) {
        closed = true
        forget()
        stream.end()
      }
    }
    open?.add(finish)
    stream.on('end', finish)
    // Cancelled (the client gave up on its calls, or went away), the stream's calls no longer count,
    // as a cancelled unary call no longer counts against max_concurrent_streams, whatever its handler
    // still does. grpc-js says 'cancelled' whenever the HTTP/2 stream closes, ended or not.
    const cancelled = (): void => {
      if (gone) return
      gone = true
      closed = true
      release(counted)
      counted = 0
      forget()
    }
    stream.on('cancelled', cancelled)
    stream.on('error', cancelled)
    stream.on('data', (request: CallRequest) => {
      inFlight++
      counted++
      // At the limit now: none of the connection's streams is read on.
      if (++connection.inFlight === maxInFlight) for (const wake of connection.streams) wake()
      else flow()
      const id = request.id
      const field = request.call
      const handler = field === undefined ? undefined : methods[field]
      if (handler === undefined) {
        answer({ id, code: grpc.status.UNIMPLEMENTED, details: `Calls: this server answers no ${field === undefined ? 'empty request' : `'${field}' request`} on this stream` })
        return
      }
      let answered = false
      const callback: grpc.sendUnaryData<unknown> = (error, reply) => {
        if (answered) return
        answered = true
        if (error === null || error === undefined) {
          const replyBytes = ((reply as { result?: Uint8Array } | undefined)?.result?.length ?? 0) + replyOverheadBytes
          if (replyBytes <= maxReplyBytes) answer({ id, reply })
          else answer({ id, code: grpc.status.RESOURCE_EXHAUSTED, details: `The answer is larger than a client takes in one message (at least ${replyBytes} vs. ${maxReplyBytes} bytes): ask for less at a time` })
        } else answer({ id, code: error.code ?? grpc.status.UNKNOWN, details: error.details ?? (error as Error).message ?? '' })
      }
      try {
        handler(unaryCallOn(stream, request[field as string]), callback)
      } catch (error) {
        callback({ code: grpc.status.INTERNAL, details: (error as Error).message })
      }
    })
    // A stream opened while its connection is at the limit waits too.
    flow()
  }
}

/**
 * `implementation` with a Calls method over its Propose and Read. Give it the guarded
 * implementation (client_cert_auth, admin certificates): each request then passes the same
 * checks as the unary call.
 */
export function withCalls(implementation: grpc.UntypedServiceImplementation, maxInFlight: number, open?: Set<() => void>): grpc.UntypedServiceImplementation {
  const methods = { propose: implementation.Propose as UnaryHandler | undefined, read: implementation.Read as UnaryHandler | undefined }
  return { ...implementation, Calls: multiplexedCalls(methods, maxInFlight, open) as grpc.UntypedHandleCall }
}

/**
 * What a unary handler reads of its call, for one request of the stream: the request, and the
 * stream's connection (its TLS peer certificate, its peer address, its metadata).
 */
function unaryCallOn(stream: grpc.ServerDuplexStream<CallRequest, CallReply>, request: unknown): grpc.ServerUnaryCall<unknown, unknown> {
  return {
    request,
    metadata: stream.metadata,
    cancelled: false,
    getPeer: () => stream.getPeer(),
    getAuthContext: () => stream.getAuthContext(),
    getDeadline: () => stream.getDeadline(),
    getPath: () => stream.getPath(),
  } as unknown as grpc.ServerUnaryCall<unknown, unknown>
}
