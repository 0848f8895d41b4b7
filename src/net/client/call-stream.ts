// A client's side of a node's Calls stream (proto/raftlog.proto): Propose and Read calls sent as
// messages of one long-lived stream, each answered by its id, in place of a unary call each
// (server/multiplexed-calls.ts says why). A call fails as its unary call would: an Error with the
// gRPC status `code`, so callers handle both alike. A call still waiting when the stream breaks
// fails with the stream's status when it speaks of every call (streamWideCodes), UNAVAILABLE
// otherwise; "No connection established" there means nothing was sent.
import * as grpc from '@grpc/grpc-js'
import { grpcErrorText } from './call-failure.js'

/** The stream, as a grpc-js client makes it. */
type Duplex = grpc.ClientDuplexStream<Record<string, unknown>, CallReply>

interface CallReply {
  id: number
  reply: unknown
  code: number
  details: string
}

interface Waiting {
  resolve(reply: unknown): void
  reject(error: Error): void
  timer: NodeJS.Timeout
}

/** One opened stream and the calls waiting on it: a broken stream fails only its own calls. */
interface OpenStream {
  stream: Duplex
  waiting: Map<number, Waiting>
}

/** The unary methods that go over a Calls stream, and their field in a call request (CallRequest, GroupCallRequest). */
export const streamedMethods: Readonly<Record<string, string | undefined>> = { Propose: 'propose', Read: 'read' }

/**
 * A request of more bytes than this goes by its unary call. A message larger than a node takes
 * ends the whole stream (RESOURCE_EXHAUSTED); alone, it fails by itself, as it did before Calls.
 * Every node takes this much (a one-group node 17 MiB, a host 64 MiB, grpc's default 4 MiB), and at
 * this size a unary call costs little more than its bytes.
 */
export const maxStreamedRequestBytes = 1024 * 1024

/** The field of a call request that carries `request` to `method`, or undefined when it goes by its unary call. */
export function streamedField(method: string, request: unknown): string | undefined {
  const field = streamedMethods[method]
  if (field === undefined) return undefined
  let bytes = 0
  for (const value of Object.values(request as Record<string, unknown>)) if (value instanceof Uint8Array) bytes += value.length
  return bytes > maxStreamedRequestBytes ? undefined : field
}

/**
 * The statuses of a broken stream that say the same of every call waiting on it: that none ran
 * (no Calls method, no connection, a node still starting, no certificate), or that the connection
 * went with the calls in flight. Any other (one message too large for either side:
 * RESOURCE_EXHAUSTED; a protocol error: INTERNAL) says nothing of the other calls, which the node
 * may have carried out: they fail UNAVAILABLE, as a call whose connection broke.
 */
const streamWideCodes: ReadonlySet<number> = new Set([grpc.status.UNAVAILABLE, grpc.status.UNIMPLEMENTED, grpc.status.CANCELLED, grpc.status.DEADLINE_EXCEEDED, grpc.status.UNAUTHENTICATED, grpc.status.PERMISSION_DENIED])

/** An error as a unary call gives it: the status's code, and its message (also as `details`, grpc-js's name). */
export type CallError = Error & { code: number; details: string }

/** A stream with no call waiting is closed after this long (ms), so that an idle client holds no call open on the node (idle_timeout_ms) and its process can exit. */
const idleCloseMs = 1000

/**
 * Calls over one node's Calls stream, opened on the first call and again after it broke or idled.
 * `supported` turns false for good when the node has no Calls method (a node of an older raftlog, or
 * not a one-group node): the caller then uses the unary methods.
 */
export class CallStream {
  private open: OpenStream | undefined
  private nextId = 1
  private idle: NodeJS.Timeout | undefined
  private unsupported = false

  /** `start` opens the stream (the stub's Calls method, without a deadline). */
  constructor(private readonly start: () => Duplex) {}

  /** False once the node answered that it has no Calls method. */
  get supported(): boolean {
    return !this.unsupported
  }

  /**
   * Sends `request` as the `field` of a call request (`propose`, `read`) and resolves with the
   * reply, or rejects with a CallError: the status the node answered, DEADLINE_EXCEEDED at
   * `deadline` (ms since the epoch), or the stream's status when it broke first.
   */
  call<T>(field: string, request: Record<string, unknown>, deadline: number): Promise<T> {
    if (this.idle !== undefined) {
      clearTimeout(this.idle)
      this.idle = undefined
    }
    const open = (this.open ??= this.openStream())
    const id = this.nextId++
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (!open.waiting.delete(id)) return
        reject(callError(grpc.status.DEADLINE_EXCEEDED, 'Deadline exceeded'))
        // The node may hold the call still, counted among the calls it takes at once, and would
        // keep the stream (and this process) open until it answers. A unary call is cancelled at
        // its deadline; so is this stream, once no other call waits on it: later calls go on a new one.
        this.retire(open)
      }, Math.max(0, deadline - Date.now()))
      open.waiting.set(id, { resolve: resolve as (reply: unknown) => void, reject, timer })
      open.stream.write({ id, [field]: request })
    })
  }

  /**
   * Sends nothing more. A call waiting still gets its answer or its deadline, as a unary call in
   * progress does when its channel is closed (failed, it would be sent again by a closed client);
   * the stream is closed once none waits.
   */
  close(): void {
    if (this.idle !== undefined) clearTimeout(this.idle)
    this.idle = undefined
    const open = this.open
    if (open !== undefined) this.retire(open)
  }

  /** No more calls on `open`; it is cancelled once no call waits on it. */
  private retire(open: OpenStream): void {
    if (this.open === open) this.open = undefined
    if (open.waiting.size === 0) open.stream.cancel()
  }

  private openStream(): OpenStream {
    const open: OpenStream = { stream: this.start(), waiting: new Map() }
    const broken = (error: CallError): void => {
      if (this.open === open) this.open = undefined
      failAll(open, error)
    }
    open.stream.on('data', (answer: CallReply) => {
      const waiting = open.waiting.get(answer.id)
      if (waiting === undefined) return
      open.waiting.delete(answer.id)
      clearTimeout(waiting.timer)
      if (answer.code === grpc.status.OK) waiting.resolve(answer.reply)
      else waiting.reject(callError(answer.code, answer.details))
      if (this.open === open) this.closeWhenIdle(open)
      else if (open.waiting.size === 0) open.stream.cancel()
    })
    open.stream.on('error', (error: grpc.ServiceError) => {
      if (error.code === grpc.status.UNIMPLEMENTED) this.unsupported = true
      const details = grpcErrorText(error)
      broken(streamWideCodes.has(error.code) ? callError(error.code, details) : callError(grpc.status.UNAVAILABLE, `The call stream failed (${grpc.status[error.code] ?? error.code}: ${details})`))
    })
    // The node ended the stream without an error (it stops): whatever was waiting may have been applied.
    open.stream.on('end', () => broken(callError(grpc.status.UNAVAILABLE, 'the node ended the call stream')))
    return open
  }

  private closeWhenIdle(open: OpenStream): void {
    if (open.waiting.size > 0 || this.open !== open || this.idle !== undefined) return
    this.idle = setTimeout(() => {
      this.idle = undefined
      if (this.open !== open || open.waiting.size > 0) return
      this.open = undefined
      open.stream.end()
    }, idleCloseMs)
    this.idle.unref()
  }
}

function failAll(open: OpenStream, error: CallError): void {
  for (const waiting of open.waiting.values()) {
    clearTimeout(waiting.timer)
    waiting.reject(error)
  }
  open.waiting.clear()
}

function callError(code: number, message: string): CallError {
  return Object.assign(new Error(message), { code, details: message })
}
