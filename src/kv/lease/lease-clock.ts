// When leases expire (etcd's lessor, its clock half): only the leader keeps time. Keep-alives
// reach it and push a lease's deadline to now + its TTL; a lease whose deadline passes is revoked
// through the log (a leaseRevoke entry), so every replica and every replay delete its keys at the
// same revision. Deadlines live in the leader's memory only: a node that becomes leader counts
// every lease from that moment, as etcd's Promote does, so a change of leader never makes a lease
// expire early.
//
// Lease checkpoints (etcd's, since 3.4): the leader commits what a lease has left each time it
// runs down by a checkpoint interval (a leaseCheckpoint entry), and a new leader counts that
// instead of the whole TTL. Without them every change of leader gave a lease its whole TTL
// again: an hour's lease of a holder that died could be kept by leader changes for ever. The
// checkpoint is never less than what the lease truly has left (time passes after it), so a lease
// still never expires early; a keep-alive of a checkpointed lease commits a checkpoint of 0 (its
// whole TTL counts again) before it answers, as etcd's Renew does.
import { RaftLogError } from '../../errors.js'
import { defaultLeaseCheckpointIntervalMs } from '../../net/config/cluster-config.js'
import { maxLeaseCheckpointsPerEntry, type KvCommand, type KvStateMachine, type LeaseCheckpoint } from '../kv-state-machine.js'

/** How often the leader looks for expired leases (ms). */
export const leaseCheckIntervalMs = 250
/** Revokes the leader proposes per check at most (etcd's leaseRevokeRate is 1,000 per second). */
export const maxRevokesPerCheck = 250

export interface LeaseClockOptions {
  /** How often the leader commits what leases have left (ms); 0 turns checkpoints off. Default defaultLeaseCheckpointIntervalMs. */
  checkpointIntervalMs?: number
}

/** What the clock needs of the node it runs in. */
export interface LeaseClockHost {
  /** The term this node leads in, or undefined when it does not lead. */
  leaderTerm(): number | undefined
  /** Resolves once this node is confirmed leader with every committed entry applied (a ReadIndex round); rejects when it is not. */
  confirmLeadership(): Promise<void>
  /** Proposes a command through the log. */
  propose(command: KvCommand): Promise<Uint8Array>
  /** The index of the last entry the state machine has applied (a checkpoint names the leases as of it). */
  appliedIndex(): number
  /** Monotonic milliseconds. */
  now(): number
}

export class LeaseClock {
  /** Deadlines (host.now() ms) of the leases, while this node leads. */
  private readonly deadlines = new Map<number, number>()
  private readonly revoking = new Set<number>()
  /** The term the deadlines were set in (undefined: not leading). */
  private term: number | undefined
  private timer: NodeJS.Timeout | undefined
  private readonly stopListening: () => void
  private readonly checkpointIntervalMs: number
  /** The leases of the checkpoint entry proposed and not yet settled (at most one such entry at a time). */
  private checkpointing: ReadonlySet<number> | undefined

  constructor(
    private readonly kv: KvStateMachine,
    private readonly host: LeaseClockHost,
    options: LeaseClockOptions = {},
  ) {
    this.checkpointIntervalMs = options.checkpointIntervalMs ?? defaultLeaseCheckpointIntervalMs
    if (!Number.isSafeInteger(this.checkpointIntervalMs) || this.checkpointIntervalMs < 0) {
      throw new RaftLogError('ERR_BAD_ARGUMENT', `checkpointIntervalMs must be a whole number of milliseconds, 0 or more, got ${options.checkpointIntervalMs}`)
    }
    this.stopListening = kv.onLease({
      granted: (id, ttl) => {
        if (this.leading()) this.deadlines.set(id, this.host.now() + ttl * 1000)
      },
      revoked: (id) => {
        this.deadlines.delete(id)
        this.revoking.delete(id)
      },
      // A keep-alive's reset, committed by the leader before this one: this leader may have counted
      // the lease from an older checkpoint before it applied that entry. Deadlines only move later here.
      checkpointed: (id, remaining) => {
        const ttl = this.kv.leaseTimes(id)?.ttl
        const deadline = this.deadlines.get(id)
        if (remaining !== 0 || ttl === undefined || deadline === undefined || !this.leading()) return
        this.deadlines.set(id, Math.max(deadline, this.host.now() + ttl * 1000))
      },
      // A snapshot replaced the leases: count every one from now again, as a new leader does.
      reset: () => {
        this.term = undefined
        this.leading()
      },
    })
  }

  start(): void {
    this.timer ??= setInterval(() => this.check(), leaseCheckIntervalMs)
    this.timer.unref()
  }

  stop(): void {
    clearInterval(this.timer)
    this.timer = undefined
    this.stopListening()
  }

  /**
   * A keep-alive of lease `id` on the leader: answers the TTL it now has (s), after confirming this
   * node still leads (a deposed leader must not answer one). ERR_LEASE_NOT_FOUND when there is no
   * such lease, ERR_NOT_LEADER when this node does not lead.
   */
  async keepAlive(id: number): Promise<number> {
    await this.host.confirmLeadership()
    if (!this.leading()) throw new RaftLogError('ERR_NOT_LEADER', 'This node does not lead: a keep-alive goes to the leader')
    const lease = this.kv.leaseTimes(id)
    if (lease === undefined || this.revoking.has(id)) throw new RaftLogError('ERR_LEASE_NOT_FOUND', `Lease ${id} not found`)
    this.deadlines.set(id, this.host.now() + lease.ttl * 1000)
    // Otherwise the next leader would count from the checkpoint, and expire the lease early; also
    // when one is proposed and not applied yet: this entry comes after it in the log.
    if (lease.remaining > 0 || this.checkpointing?.has(id) === true) {
      await this.host.propose({ op: 'leaseCheckpoint', proposedAt: this.host.appliedIndex(), checkpoints: [{ id, remaining: 0 }] })
    }
    return lease.ttl
  }

  /**
   * Whole seconds lease `id` has left, cut down as etcd's LeaseTimeToLive cuts them (59 right after
   * a grant of 60), on the leader; -1 when there is no such lease. A lease that still exists
   * answers 0 or more: in its last second, and past its deadline until its revoke is applied (etcd
   * answers 0 there too). ERR_NOT_LEADER.
   */
  remaining(id: number): number {
    if (!this.leading()) throw new RaftLogError('ERR_NOT_LEADER', 'This node does not lead: a lease TTL is the leader\'s to tell')
    const deadline = this.deadlines.get(id)
    if (deadline === undefined || this.kv.leaseTimes(id) === undefined) return -1
    return Math.max(0, Math.floor((deadline - this.host.now()) / 1000))
  }

  /** Revokes, through the log, the leases whose deadline passed, and checkpoints leases when due (leader only). */
  check(): void {
    if (!this.leading()) return
    const now = this.host.now()
    if (this.checkpointIntervalMs > 0) this.checkpoint(now)
    let proposed = 0
    for (const [id, deadline] of this.deadlines) {
      if (proposed === maxRevokesPerCheck) break
      if (deadline > now || this.revoking.has(id)) continue
      this.revoking.add(id)
      proposed++
      this.host.propose({ op: 'leaseRevoke', id }).then(
        () => this.revoking.delete(id),
        // Not committed (leadership lost, or the lease went another way): the next check looks again.
        () => this.revoking.delete(id),
      )
    }
  }

  /**
   * Commits what the leases that ran down by a checkpoint interval since their last checkpoint (or
   * their grant, or keep-alive) have left: up to maxLeaseCheckpointsPerEntry in one entry; the
   * next check goes on with the rest. Looked at on every check, so a lease is checkpointed within
   * a check of running down by an interval. A lease whose TTL is shorter than the interval is never
   * checkpointed (etcd's rule: it runs out before the next one would count).
   */
  private checkpoint(now: number): void {
    if (this.checkpointing !== undefined) return
    const intervalSeconds = this.checkpointIntervalMs / 1000
    const checkpoints: LeaseCheckpoint[] = []
    for (const [id, deadline] of this.deadlines) {
      const lease = this.kv.leaseTimes(id)
      if (lease === undefined || this.revoking.has(id)) continue
      const left = Math.ceil((deadline - now) / 1000)
      const counted = lease.remaining > 0 ? lease.remaining : lease.ttl
      if (left <= 0 || left > counted - intervalSeconds) continue
      checkpoints.push({ id, remaining: Math.min(left, lease.ttl) })
      if (checkpoints.length === maxLeaseCheckpointsPerEntry) break
    }
    if (checkpoints.length === 0) return
    this.checkpointing = new Set(checkpoints.map(({ id }) => id))
    const done = (): void => {
      this.checkpointing = undefined
    }
    // Not committed (leadership lost): the next leader counts from the checkpoint before, which is only longer.
    this.host.propose({ op: 'leaseCheckpoint', proposedAt: this.host.appliedIndex(), checkpoints }).then(done, done)
  }

  /** Whether this node leads; on the first call in a new term, counts every lease from now: from its checkpoint, or its whole TTL. */
  private leading(): boolean {
    const term = this.host.leaderTerm()
    if (term === undefined) {
      if (this.term !== undefined) {
        this.deadlines.clear()
        this.revoking.clear()
      }
      this.term = undefined
      return false
    }
    if (term !== this.term) {
      this.term = term
      this.deadlines.clear()
      const now = this.host.now()
      for (const { id, ttl, remaining } of this.kv.leaseList()) this.deadlines.set(id, now + (remaining ?? ttl) * 1000)
    }
    return true
  }
}
