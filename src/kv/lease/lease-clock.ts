// When leases expire (etcd's lessor, its clock half): only the leader keeps time. Keep-alives
// reach it and push a lease's deadline to now + its TTL; a lease whose deadline passes is revoked
// through the log (a leaseRevoke entry), so every replica and every replay delete its keys at the
// same revision. Deadlines live in the leader's memory only: a node that becomes leader gives every
// lease its whole TTL again from that moment, as etcd's Promote does, so a change of leader never
// makes a lease expire early (it may make one live up to a TTL longer).
import { RaftLogError } from '../../errors.js'
import type { KvCommand, KvStateMachine } from '../kv-state-machine.js'

/** How often the leader looks for expired leases (ms). */
export const leaseCheckIntervalMs = 250
/** Revokes the leader proposes per check at most (etcd's leaseRevokeRate is 1,000 per second). */
export const maxRevokesPerCheck = 250

/** What the clock needs of the node it runs in. */
export interface LeaseClockHost {
  /** The term this node leads in, or undefined when it does not lead. */
  leaderTerm(): number | undefined
  /** Resolves once this node is confirmed leader with every committed entry applied (a ReadIndex round); rejects when it is not. */
  confirmLeadership(): Promise<void>
  /** Proposes a command through the log. */
  propose(command: KvCommand): Promise<Uint8Array>
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

  constructor(
    private readonly kv: KvStateMachine,
    private readonly host: LeaseClockHost,
  ) {
    this.stopListening = kv.onLease({
      granted: (id, ttl) => {
        if (this.leading()) this.deadlines.set(id, this.host.now() + ttl * 1000)
      },
      revoked: (id) => {
        this.deadlines.delete(id)
        this.revoking.delete(id)
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
    const ttl = this.kv.lease(id)?.ttl
    if (ttl === undefined || this.revoking.has(id)) throw new RaftLogError('ERR_LEASE_NOT_FOUND', `Lease ${id} not found`)
    this.deadlines.set(id, this.host.now() + ttl * 1000)
    return ttl
  }

  /** Seconds lease `id` has left (rounded up), on the leader; -1 when there is no such lease. ERR_NOT_LEADER. */
  remaining(id: number): number {
    if (!this.leading()) throw new RaftLogError('ERR_NOT_LEADER', 'This node does not lead: a lease TTL is the leader\'s to tell')
    const deadline = this.deadlines.get(id)
    if (deadline === undefined || this.kv.lease(id) === undefined) return -1
    return Math.max(0, Math.ceil((deadline - this.host.now()) / 1000))
  }

  /** Revokes, through the log, the leases whose deadline passed (leader only). */
  check(): void {
    if (!this.leading()) return
    const now = this.host.now()
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

  /** Whether this node leads; on the first call in a new term, gives every lease its whole TTL from now. */
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
      for (const { id, ttl } of this.kv.leaseList()) this.deadlines.set(id, now + ttl * 1000)
    }
    return true
  }
}
