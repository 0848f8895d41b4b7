// The cluster's nodes as etcd API servers, for ClusterClient's watch, lease, lock and election
// helpers: one channel per node and service, unary calls that move on to the next node when one
// does not answer (any node serves these calls: followers forward what only the leader can do).
import * as grpc from '@grpc/grpc-js'
import { RaftLogError } from '../../../errors.js'
import { etcdProtocol, etcdWaitingMethods, type EtcdServices } from '../../etcd-protocol.js'
import { checkTimeoutMs } from '../timeout-argument.js'

/** Pause before trying the next node after a failed call or stream (ms). */
export const etcdRetryPauseMs = 100

type Unary = (request: unknown, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, response: unknown) => void) => grpc.ClientUnaryCall

/** etcd's words for a refusal, mapped back to raftlog's codes (etcd-errors.ts gives them). */
const codeOf: [RegExp, string][] = [
  [/required revision has been compacted/, 'ERR_COMPACTED'],
  [/required revision is a future revision/, 'ERR_FUTURE_REVISION'],
  [/requested lease not found/, 'ERR_LEASE_NOT_FOUND'],
  [/lease already exists/, 'ERR_LEASE_EXISTS'],
  [/election: not leader/, 'ERR_NOT_ELECTION_LEADER'],
  [/election: no leader/, 'ERR_NO_ELECTION_LEADER'],
  [/key not found/, 'ERR_KEY_NOT_FOUND'],
]

/** A RaftLogError for a failed call: raftlog's code when the answer names one ("ERR_X: ..."), else by etcd's words. */
export function etcdCallError(error: grpc.ServiceError, what: string): RaftLogError {
  const own = /^(ERR_[A-Z_]+): (.*)$/s.exec(error.details)
  if (own !== null) return new RaftLogError(own[1] as string, own[2] as string)
  const known = codeOf.find(([pattern]) => pattern.test(error.details))
  if (known !== undefined) return new RaftLogError(known[1], `${what}: ${error.details}`)
  if (error.code === grpc.status.CANCELLED) return new RaftLogError('ERR_CANCELLED', `${what} was cancelled`)
  return new RaftLogError(error.code === grpc.status.DEADLINE_EXCEEDED ? 'ERR_TIMEOUT' : 'ERR_UNAVAILABLE', `${what}: ${error.details}`)
}

/** Failures after which another node may answer: the node is down, or it knows no leader yet. */
export function retryable(error: grpc.ServiceError): boolean {
  return error.code === grpc.status.UNAVAILABLE
}

export class EtcdEndpoints {
  private readonly clients = new Map<string, grpc.Client>()
  private next = 0

  constructor(
    private readonly endpoints: readonly string[],
    private readonly credentials: grpc.ChannelCredentials,
  ) {}

  /** How many nodes there are to ask. */
  get count(): number {
    return this.endpoints.length
  }

  /** host:port of the node whose turn it is. */
  get current(): string {
    return this.endpoints[this.next % this.endpoints.length] as string
  }

  /** The client of `service` on the node whose turn it is (`advance`: move to the next node first). */
  client(service: keyof EtcdServices, advance = false): grpc.Client {
    if (advance) this.next++
    const endpoint = this.endpoints[this.next % this.endpoints.length] as string
    const key = `${service}@${endpoint}`
    let client = this.clients.get(key)
    if (client === undefined) {
      client = new etcdProtocol[service](endpoint, this.credentials, { 'grpc.enable_channelz': 0 })
      this.clients.set(key, client)
    }
    return client
  }

  /**
   * Calls `service`.`method`, moving on to the next node while nodes answer UNAVAILABLE, until
   * `timeoutMs` (Infinity, for a Lock or a Campaign only: no deadline; the call waits as long as
   * the lock is held). Rejects with etcdCallError, or ERR_BAD_ARGUMENT for any other timeoutMs no
   * deadline can wait (checkTimeoutMs).
   * `signal` cancels the call in flight.
   */
  async unary<T>(service: keyof EtcdServices, method: string, request: unknown, timeoutMs: number, signal?: AbortSignal): Promise<T> {
    checkTimeoutMs(timeoutMs, etcdWaitingMethods.has(method))
    const deadline = Date.now() + timeoutMs
    const notServing = new Set<string>()
    for (let attempt = 0; ; attempt++) {
      if (signal?.aborted === true) throw new RaftLogError('ERR_CANCELLED', `${service}.${method} was cancelled`)
      const client = this.client(service, attempt > 0)
      try {
        return await new Promise<T>((resolve, reject) => {
          // The listener goes with the call: a long-lived signal (a lock handle's) outlives many calls.
          const cancel = (): void => call.cancel()
          const call = ((client as unknown as Record<string, Unary>)[method] as Unary).call(client, request, Number.isFinite(deadline) ? { deadline } : {}, (error, response) => {
            signal?.removeEventListener('abort', cancel)
            if (error === null) resolve(response as T)
            else reject(error)
          })
          signal?.addEventListener('abort', cancel, { once: true })
        })
      } catch (error) {
        const failure = error as grpc.ServiceError
        // A method no node has (UNIMPLEMENTED) is refused once every node said so: one of them
        // may be a process that took over the port of a node that stopped.
        if (failure.code === grpc.status.UNIMPLEMENTED) notServing.add(this.current)
        const elsewhere = retryable(failure) || (failure.code === grpc.status.UNIMPLEMENTED && notServing.size < this.count)
        if (!elsewhere || Date.now() + etcdRetryPauseMs >= deadline) throw etcdCallError(failure, `${service}.${method}`)
        await new Promise((resolve) => setTimeout(resolve, etcdRetryPauseMs))
      }
    }
  }

  close(): void {
    for (const client of this.clients.values()) client.close()
    this.clients.clear()
  }
}
