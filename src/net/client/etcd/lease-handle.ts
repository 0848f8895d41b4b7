// ClusterClient.grantLease: a lease with automatic keep-alive. It sends a keep-alive every third
// of its TTL on one stream (to any node: followers pass them to the leader), opens another on the
// next node when that stream breaks, and reports the lease lost when the cluster says it is gone
// or when no keep-alive succeeded for a whole TTL (then it may have expired: act as if it had).
import type * as grpc from '@grpc/grpc-js'
import { RaftLogError } from '../../../errors.js'
import { etcdRetryPauseMs, type EtcdEndpoints } from './etcd-endpoints.js'
import { maxTimerMs } from '../../../timer-limit.js'

export interface LeaseOptions {
  /** Send keep-alives until revoke() or close() (default true). */
  keepAlive?: boolean
  /** How long to try to reach the cluster for the grant (ms, default 5000). */
  timeoutMs?: number
}

export class LeaseHandle {
  private closed = false
  private stream: grpc.ClientDuplexStream<unknown, { ID?: number; TTL?: number }> | undefined
  private timer: NodeJS.Timeout | undefined
  /** When the last keep-alive was answered (ms, Date.now()). */
  private lastAlive = Date.now()
  private lostWith: RaftLogError | undefined
  private readonly lostListeners = new Set<(error: RaftLogError) => void>()
  private readonly renewedListeners = new Set<(ttlSeconds: number) => void>()

  private constructor(
    private readonly endpoints: EtcdEndpoints,
    /** The lease's id. */
    readonly id: number,
    /** Its TTL (s), as the cluster granted it (at least the cluster's minimum). */
    readonly ttlSeconds: number,
  ) {}

  /** Grants a lease of `ttlSeconds` and, unless told not to, keeps it alive. ERR_BAD_ARGUMENT for a TTL that is not a whole number of seconds from 1. */
  static async grant(endpoints: EtcdEndpoints, ttlSeconds: number, options: LeaseOptions = {}): Promise<LeaseHandle> {
    if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < 1) throw new RaftLogError('ERR_BAD_ARGUMENT', `A lease TTL must be a whole number of seconds, 1 or more, got ${String(ttlSeconds)}`)
    const granted = await endpoints.unary<{ ID: number; TTL: number }>('Lease', 'LeaseGrant', { TTL: ttlSeconds, ID: 0 }, options.timeoutMs ?? 5000)
    const lease = new LeaseHandle(endpoints, Number(granted.ID), Number(granted.TTL))
    if (options.keepAlive !== false) lease.keepAlive()
    return lease
  }

  /**
   * Keeps lease `id`, granted elsewhere, alive from now on. ERR_LEASE_NOT_FOUND when it does not
   * exist (expired, or revoked).
   */
  static async attach(endpoints: EtcdEndpoints, id: number, timeoutMs = 5000): Promise<LeaseHandle> {
    const status = await leaseTimeToLive(endpoints, id, timeoutMs)
    if (status.ttl < 0) throw new RaftLogError('ERR_LEASE_NOT_FOUND', `Lease ${id.toString(16)} not found: it expired or was revoked`)
    const lease = new LeaseHandle(endpoints, id, status.grantedTtl)
    lease.keepAlive()
    return lease
  }

  /** The error the lease was lost with (expired, revoked from elsewhere, or unreachable for a TTL), or undefined while it lives. */
  get lost(): RaftLogError | undefined {
    return this.lostWith
  }

  /** Calls `listener` once if the lease is lost; answers what removes it. */
  onLost(listener: (error: RaftLogError) => void): () => void {
    if (this.lostWith !== undefined) listener(this.lostWith)
    else this.lostListeners.add(listener)
    return () => this.lostListeners.delete(listener)
  }

  /** Calls `listener` with the TTL (s) each time a keep-alive is answered; answers what removes it. */
  onRenewed(listener: (ttlSeconds: number) => void): () => void {
    this.renewedListeners.add(listener)
    return () => this.renewedListeners.delete(listener)
  }

  /** The seconds the lease has left, and its keys (bytes). TTL -1: it does not exist any more. */
  timeToLive(timeoutMs = 5000): Promise<LeaseStatus> {
    return leaseTimeToLive(this.endpoints, this.id, timeoutMs)
  }

  /** Ends the lease now: its keys are deleted at one revision. Stops the keep-alives first. */
  async revoke(timeoutMs = 5000): Promise<void> {
    this.close()
    await revokeLease(this.endpoints, this.id, timeoutMs)
  }

  /** Stops the keep-alives (the lease then expires after its TTL). */
  close(): void {
    this.closed = true
    clearInterval(this.timer)
    this.stream?.cancel()
    this.stream = undefined
  }

  private keepAlive(): void {
    // A third of the TTL, within what a timer can wait (2^31 - 1 ms: a longer delay fires at once).
    const everyMs = Math.min(maxTimerMs, Math.max(100, (this.ttlSeconds * 1000) / 3))
    this.timer = setInterval(() => this.beat(), everyMs)
    this.timer.unref()
    this.beat()
  }

  private beat(): void {
    if (this.closed) return
    if (Date.now() - this.lastAlive > this.ttlSeconds * 1000) return this.lose(new RaftLogError('ERR_LEASE_NOT_FOUND', `Lease ${this.id.toString(16)} may have expired: no keep-alive succeeded for its whole TTL of ${this.ttlSeconds} s`))
    this.streamOpen().write({ ID: this.id })
  }

  private streamOpen(advance = false): grpc.ClientDuplexStream<unknown, { ID?: number; TTL?: number }> {
    if (this.stream !== undefined) return this.stream
    const client = this.endpoints.client('Lease', advance) as unknown as { LeaseKeepAlive(): grpc.ClientDuplexStream<unknown, { ID?: number; TTL?: number }> }
    const stream = client.LeaseKeepAlive()
    this.stream = stream
    const broken = (): void => {
      if (this.stream !== stream) return
      this.stream = undefined
      stream.cancel()
      if (!this.closed) setTimeout(() => !this.closed && this.streamOpen(true).write({ ID: this.id }), etcdRetryPauseMs)
    }
    stream.on('data', (response) => {
      if (Number(response.TTL ?? 0) <= 0) return this.lose(new RaftLogError('ERR_LEASE_NOT_FOUND', `Lease ${this.id.toString(16)} expired or was revoked`))
      this.lastAlive = Date.now()
      for (const listener of this.renewedListeners) listener(Number(response.TTL))
    })
    stream.on('error', broken)
    stream.on('end', broken)
    return stream
  }

  private lose(error: RaftLogError): void {
    if (this.lostWith !== undefined) return
    this.lostWith = error
    this.close()
    for (const listener of this.lostListeners) listener(error)
    this.lostListeners.clear()
  }
}

/** A lease's time left (s; -1: it does not exist), its granted TTL (s) and its keys. */
export interface LeaseStatus {
  ttl: number
  grantedTtl: number
  keys: Buffer[]
}

export async function leaseTimeToLive(endpoints: EtcdEndpoints, id: number, timeoutMs = 5000): Promise<LeaseStatus> {
  const answer = await endpoints.unary<{ TTL: number; grantedTTL: number; keys: Buffer[] }>('Lease', 'LeaseTimeToLive', { ID: id, keys: true }, timeoutMs)
  return { ttl: Number(answer.TTL), grantedTtl: Number(answer.grantedTTL), keys: answer.keys }
}

/** Ends lease `id`: its keys are deleted at one revision. ERR_LEASE_NOT_FOUND. */
export async function revokeLease(endpoints: EtcdEndpoints, id: number, timeoutMs = 5000): Promise<void> {
  try {
    await endpoints.unary('Lease', 'LeaseRevoke', { ID: id }, timeoutMs)
  } catch (error) {
    if ((error as RaftLogError).code === 'ERR_LEASE_NOT_FOUND') throw new RaftLogError('ERR_LEASE_NOT_FOUND', `Lease ${id.toString(16)} not found: it expired or was revoked`)
    throw error
  }
}

/** The ids of every lease. */
export async function listLeases(endpoints: EtcdEndpoints, timeoutMs = 5000): Promise<number[]> {
  const answer = await endpoints.unary<{ leases: { ID: number }[] }>('Lease', 'LeaseLeases', {}, timeoutMs)
  return answer.leases.map((lease) => Number(lease.ID))
}
