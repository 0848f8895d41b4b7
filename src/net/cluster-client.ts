// A client of a running cluster: finds the leader itself (following NOT_LEADER answers), retries
// until a deadline, and reads every node's status.
import * as grpc from '@grpc/grpc-js'
import { RaftLogError } from '../storage/errors.js'
import { maxGrpcMessageBytes } from './grpc-transport.js'
import { protocol } from './protocol.js'

export interface NodeStatus {
  /** From the node itself, or from the configuration when it cannot be reached (null if unknown). */
  id: number | null
  address: string
  reachable: boolean
  role?: string
  term?: number
  leaderId?: number
  commitIndex?: number
  lastApplied?: number
  firstIndex?: number
  lastIndex?: number
  snapshotIndex?: number
  snapshotTerm?: number
  error?: string
}

type Stub = grpc.Client & Record<string, (request: unknown, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, reply: never) => void) => void>

interface ProposeReply {
  result: Buffer
  notLeader?: { leaderId: number; leaderAddress: string } | null
}

/** Pause before asking again when no node knows a leader, or after a failed call. */
const retryPauseMs = 100
/** Longest one call may take before the client moves on to another node. */
export const callTimeoutMs = 2000
const clientChannelOptions: grpc.ChannelOptions = {
  'grpc.initial_reconnect_backoff_ms': 50,
  'grpc.max_reconnect_backoff_ms': 500,
  // A reply can carry a value as large as a command may be (grpc's default is 4 MB).
  'grpc.max_receive_message_length': maxGrpcMessageBytes,
  'grpc.max_send_message_length': maxGrpcMessageBytes,
}

/**
 * Whether a command may be sent again when its first attempt's outcome is unknown (a timeout, a
 * node stopping mid-call). A put may; a cas or delete may not: it could apply twice and report
 * a failure for what in fact succeeded.
 */
export type Retry = 'idempotent' | 'once'

export class ClusterClient {
  private readonly stubs = new Map<string, Stub>()

  /** `ids[i]` is the node id configured for `endpoints[i]`, when known. */
  constructor(
    private readonly endpoints: string[],
    private readonly ids: (number | null)[] = [],
  ) {
    if (endpoints.length === 0) throw new RaftLogError('ERR_BAD_ARGUMENT', 'No endpoints to reach the cluster')
  }

  /** Proposes a command to the leader, wherever it is; resolves with the state machine's result. */
  propose(command: Uint8Array, timeoutMs: number, retry: Retry = 'once'): Promise<Uint8Array> {
    return this.toLeader('Propose', { command: Buffer.from(command) }, timeoutMs, retry)
  }

  /** A linearizable read of one key through the leader. */
  read(key: string, timeoutMs: number): Promise<Uint8Array> {
    return this.toLeader('Read', { key }, timeoutMs, 'idempotent')
  }

  private async toLeader(method: 'Propose' | 'Read', request: unknown, timeoutMs: number, retry: Retry): Promise<Uint8Array> {
    const deadline = Date.now() + timeoutMs
    let next = 0
    let lastProblem = ''
    let target: string | undefined
    while (Date.now() < deadline) {
      const address = target ?? (this.endpoints[next++ % this.endpoints.length] as string)
      target = undefined
      try {
        const reply = await this.call<ProposeReply>(address, method, request, deadline)
        if (reply.notLeader === null || reply.notLeader === undefined) return new Uint8Array(reply.result)
        lastProblem = `${address} is not the leader`
        if (reply.notLeader.leaderAddress !== '') target = reply.notLeader.leaderAddress
        else await pause(retryPauseMs)
      } catch (error) {
        const code = (error as { code?: number }).code
        if (code === grpc.status.INVALID_ARGUMENT) throw new RaftLogError('ERR_BAD_COMMAND', `${address} refused the command: ${(error as Error).message}`)
        // Too large for gRPC: asking again, or another node, cannot help.
        if (code === grpc.status.RESOURCE_EXHAUSTED) throw new RaftLogError('ERR_BAD_COMMAND', `${address}: ${(error as Error).message}`)
        if (retry === 'once' && !neverSent(error as Error & { code?: number })) {
          throw new RaftLogError('ERR_UNKNOWN_OUTCOME', `The command may or may not have been applied: ${address}: ${(error as Error).message}`)
        }
        lastProblem = `${address}: ${(error as Error).message}`
        await pause(retryPauseMs / 2)
      }
    }
    throw new RaftLogError('ERR_NO_LEADER', `No leader could be reached within ${timeoutMs} ms (tried ${this.endpoints.join(', ')}; last: ${lastProblem})`)
  }

  /** Every endpoint's status; an unreachable node is reported, not thrown. */
  async statuses(timeoutMs: number): Promise<NodeStatus[]> {
    const deadline = Date.now() + timeoutMs
    return Promise.all(
      this.endpoints.map(async (address, position): Promise<NodeStatus> => {
        try {
          const status = await this.call<Omit<NodeStatus, 'address' | 'reachable'>>(address, 'Status', {}, deadline)
          return { ...status, address, reachable: true }
        } catch (error) {
          return { id: this.ids[position] ?? null, address, reachable: false, error: (error as Error).message }
        }
      }),
    )
  }

  close(): void {
    for (const stub of this.stubs.values()) stub.close()
    this.stubs.clear()
  }

  private call<T>(address: string, method: string, request: unknown, deadline: number): Promise<T> {
    let stub = this.stubs.get(address)
    if (stub === undefined) {
      stub = new protocol.RaftClient(address, grpc.credentials.createInsecure(), clientChannelOptions) as unknown as Stub
      this.stubs.set(address, stub)
    }
    const target = stub
    return new Promise<T>((resolve, reject) => {
      ;(target[method] as Stub[string]).call(target, request, { deadline: Math.min(deadline, Date.now() + callTimeoutMs) }, (error, reply) => {
        // grpc-js appends resolver notes that say nothing to a user.
        if (error !== null) reject(Object.assign(new Error((error.details || error.message).replace(/\.?\s*Resolution note:.*$/s, '')), { code: error.code }))
        else resolve(reply as T)
      })
    })
  }
}

/**
 * Whether a failed call certainly never reached the node: grpc-js fails a call at once, before
 * sending it, while it has no connection. A timeout, a connection lost mid-call or a node's own
 * error (ABORTED) leave the outcome unknown.
 */
function neverSent(error: Error & { code?: number }): boolean {
  return error.code === grpc.status.UNAVAILABLE && error.message.includes('No connection established')
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
