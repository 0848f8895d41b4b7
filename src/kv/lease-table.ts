// The leases of the key-value store as the log decides them (etcd's lessor, less its clock): which
// leases exist, the TTL each was granted with, and the keys attached to each. Every node holds the
// same table at the same index. When a lease expires is not here: the leader's clock decides that
// (lease-clock.ts) and commits a revoke, so every replica and every replay agree. What is here of
// time is a lease's last checkpoint (etcd's lease checkpointing): the TTL it had left when the
// leader last committed it, which the next leader counts from instead of the whole TTL.
import { RaftLogError } from '../errors.js'

/** Largest TTL a lease may be granted with (s), as etcd's MaxLeaseTTL. */
export const maxLeaseTtlSeconds = 9_000_000_000
/** Largest lease id: ids are JavaScript numbers on the wire and in the state. */
export const maxLeaseId = Number.MAX_SAFE_INTEGER

export interface LeaseInfo {
  readonly id: number
  /** The TTL it was granted with (s). */
  readonly ttl: number
  /** Seconds it had left at its last checkpoint; absent when none counts (never checkpointed, or kept alive since). */
  readonly remaining?: number
  /** The log index of its grant (0: not known, restored from a snapshot written before grant indexes were kept). */
  readonly grantIndex?: number
}

export class LeaseTable {
  private readonly leases = new Map<number, { ttl: number; keys: Set<string>; remaining: number; grantIndex: number }>()

  get size(): number {
    return this.leases.size
  }

  has(id: number): boolean {
    return this.leases.has(id)
  }

  /** The granted TTL of `id` (s), or undefined. */
  ttlOf(id: number): number | undefined {
    return this.leases.get(id)?.ttl
  }

  /** Seconds `id` had left at its last checkpoint (0: none counts), or undefined when there is no such lease. */
  remainingOf(id: number): number | undefined {
    return this.leases.get(id)?.remaining
  }

  /**
   * Records, all or none, that each lease had `remaining` seconds left (0: it was kept alive, its
   * whole TTL counts again), as the leader saw the leases at log index `proposedAt`; answers the
   * checkpoints recorded. Passed over: a lease that is gone (its revoke may have committed first,
   * as etcd has it) and one granted after `proposedAt` (the id granted again: not the lease the
   * leader saw). ERR_BAD_ARGUMENT, recording none, when a remaining time is out of range.
   */
  checkpoint(checkpoints: readonly { id: number; remaining: number }[], proposedAt: number): { id: number; remaining: number }[] {
    const seen = checkpoints.filter(({ id }) => (this.leases.get(id)?.grantIndex ?? Infinity) <= proposedAt)
    for (const { id, remaining } of seen) {
      const ttl = (this.leases.get(id) as { ttl: number }).ttl
      if (!Number.isSafeInteger(remaining) || remaining < 0 || remaining > ttl) throw new RaftLogError('ERR_BAD_ARGUMENT', `Lease ${id}'s checkpoint must be from 0 to its TTL of ${ttl} seconds, got ${remaining}`)
    }
    for (const { id, remaining } of seen) (this.leases.get(id) as { remaining: number }).remaining = remaining
    return seen
  }

  /** Grants `id` at log index `grantIndex`. ERR_LEASE_EXISTS when `id` is granted already; ERR_BAD_ARGUMENT for an id or TTL out of range. */
  grant(id: number, ttl: number, grantIndex = 0): void {
    if (!Number.isSafeInteger(id) || id <= 0) throw new RaftLogError('ERR_BAD_ARGUMENT', `A lease id must be a whole number from 1 to ${maxLeaseId}, got ${id}`)
    if (!Number.isSafeInteger(ttl) || ttl <= 0 || ttl > maxLeaseTtlSeconds) throw new RaftLogError('ERR_BAD_ARGUMENT', `A lease TTL must be from 1 to ${maxLeaseTtlSeconds} seconds, got ${ttl}`)
    if (this.leases.has(id)) throw new RaftLogError('ERR_LEASE_EXISTS', `Lease ${id} exists already`)
    this.leases.set(id, { ttl, keys: new Set(), remaining: 0, grantIndex })
  }

  /** Forgets `id`; answers the keys that were attached to it, in byte order. ERR_LEASE_NOT_FOUND. */
  revoke(id: number): string[] {
    const lease = this.leases.get(id)
    if (lease === undefined) throw new RaftLogError('ERR_LEASE_NOT_FOUND', `Lease ${id} not found`)
    this.leases.delete(id)
    return Array.from(lease.keys).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  }

  /** The keys attached to `id` (binary strings), or undefined when there is no such lease. */
  keysOf(id: number): ReadonlySet<string> | undefined {
    return this.leases.get(id)?.keys
  }

  attach(id: number, key: string): void {
    this.leases.get(id)?.keys.add(key)
  }

  detach(id: number, key: string): void {
    this.leases.get(id)?.keys.delete(key)
  }

  /** Every lease, by id. */
  list(): LeaseInfo[] {
    return Array.from(this.leases, ([id, { ttl, remaining, grantIndex }]) => ({ id, ttl, ...(remaining > 0 ? { remaining } : {}), ...(grantIndex > 0 ? { grantIndex } : {}) })).sort((a, b) => a.id - b.id)
  }

  /** Replaces every lease with `leases`, with no keys attached (the caller attaches them). */
  load(leases: readonly LeaseInfo[]): void {
    this.leases.clear()
    for (const { id, ttl, remaining, grantIndex } of leases) this.leases.set(id, { ttl, keys: new Set(), remaining: remaining ?? 0, grantIndex: grantIndex ?? 0 })
  }
}
