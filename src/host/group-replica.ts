// One group's replica on a host: its consensus core over its log in the shared engine, its state
// machine, the proposals waiting for their entries to apply, its snapshots, the membership
// changes and leadership transfers waiting to finish, and whether it is quiet.
import { RaftLogError } from '../errors.js'
import type { RaftCore, Ready } from '../raft/core/raft-core.js'
import { MembershipRequests } from '../raft/node/membership-requests.js'
import type { SnapshotInfo, StateMachine } from '../raft/state-machine.js'
import type { GroupLog } from '../engine/group-log.js'
import { EntryType } from '../storage/log-entry.js'
import type { GroupSnapshots } from './host-snapshots.js'

/** How long a membership change is still watched after this replica stopped leading (ms): its successor may finish it. */
export const lostLeadershipGraceMs = 2000

interface Pending {
  term: number
  resolve(result: unknown): void
  reject(error: RaftLogError): void
}

export class GroupReplica {
  /** Entries the state machine holds (applied in order, one at a time). */
  applied: number
  /** Not ticked: no heartbeats, no election timer, until something wakes it. */
  quiesced = false
  /** Ticks in a row with nothing to do (a leader quiesces after enough of them). */
  idleTicks = 0
  /** Its snapshots, when its state machine has snapshot() and restore(). */
  snapshots: GroupSnapshots | undefined
  /** Membership changes and leadership transfers asked here, settled after each turn. */
  readonly membership = new MembershipRequests(lostLeadershipGraceMs)
  /** A change or transfer was asked here once: its waiters are looked at after each turn (the others never need to be). */
  membershipAsked = false
  /** Dropped from its host: nothing more is applied, taken or sent. */
  closed = false
  private readonly pending = new Map<number, Pending>()
  /** The last entry the state machine has finished applying (applied is what it was handed). */
  private done: number
  /** Reads waiting for the state machine to reach their index. */
  private readonly waitingReads: { index: number; resolve(): void }[] = []
  /** Applying is one promise chain: the next entry waits for the state machine's last answer. */
  private applying: Promise<void> = Promise.resolve()

  constructor(
    readonly group: number,
    readonly core: RaftCore,
    readonly log: GroupLog,
    readonly stateMachine: StateMachine,
    appliedIndex: number,
  ) {
    this.applied = appliedIndex
    this.done = appliedIndex
  }

  /** Resolves once the state machine has applied up to `index` (a ReadIndex read may then be served). */
  whenApplied(index: number): Promise<void> {
    if (index <= this.done) return Promise.resolve()
    return new Promise((resolve) => this.waitingReads.push({ index, resolve }))
  }

  get proposalsWaiting(): number {
    return this.pending.size
  }

  /** Remembers the proposal at `index` (of `term`) until its entry is applied. */
  expect(index: number, term: number): Promise<unknown> {
    return new Promise((resolve, reject) => this.pending.set(index, { term, resolve, reject }))
  }

  /** Applies the committed entries up to `commitIndex`, answering the proposals among them. */
  applyTo(commitIndex: number): Promise<void> {
    // A snapshot stepped in after the turn that asked for this cut the log ahead of what was
    // applied (the core resets the log at once; Ready.restore comes with the next turn): the
    // entries cut away are the snapshot's, and the state machine gets them by its restore.
    const cutBefore = this.log.firstIndex
    if (this.applied + 1 < cutBefore) this.applied = Math.min(commitIndex, cutBefore - 1)
    if (commitIndex <= this.applied || this.closed) return this.applying
    const entries = this.log.slice(this.applied + 1, commitIndex + 1)
    this.applied = commitIndex
    this.applying = this.applying.then(async () => {
      for (const entry of entries) {
        const waiting = this.pending.get(entry.index)
        this.pending.delete(entry.index)
        // The no-op a leader starts its term with and configuration entries are not the application's.
        // A state machine that throws answers its proposal with the error, on every replica alike,
        // and the entries after it are applied still (as a one-group node's applier does): the
        // rejection left unhandled here ended the host, and the same entry again at its restart.
        let outcome: { result: unknown } | { error: unknown } = { result: undefined }
        if (entry.type === EntryType.Normal) {
          try {
            outcome = { result: await this.stateMachine.apply(entry) }
          } catch (error) {
            outcome = { error }
          }
        }
        this.done = entry.index
        if (waiting !== undefined) {
          if (waiting.term === entry.term) {
            if ('error' in outcome) waiting.reject(outcome.error as RaftLogError)
            else waiting.resolve(outcome.result)
          } else waiting.reject(new RaftLogError('ERR_LEADERSHIP_LOST', `Group ${this.group}: the entry proposed at index ${entry.index} was replaced by another leader's`))
        }
      }
      this.done = Math.max(this.done, commitIndex)
      this.answerReads()
      // Between two applies: the place to take a snapshot of exactly `done` entries.
      if (!this.closed) this.snapshots?.maybeTake(this.done)
    })
    return this.applying
  }

  /** Takes a snapshot after the entries handed to the state machine so far, even below the threshold (the engine asked to compact). */
  snapshotSoon(): void {
    this.applying = this.applying.then(() => {
      if (!this.closed) this.snapshots?.maybeTake(this.done, true)
    })
  }

  /**
   * Carries out what the core decided about the log beyond appends: compaction behind a snapshot
   * (older snapshot files go then; returns true), and a snapshot stepped in that replaced the
   * log, which the state machine is restored from before anything after it is applied (a
   * failure to restore goes to `fail`: the replica has nothing to apply from).
   */
  carryOutLogChanges(ready: Ready, fail: (error: unknown) => void): boolean {
    const restore = ready.restore
    const snapshots = this.snapshots
    if (restore !== undefined && snapshots !== undefined) {
      snapshots.installed(restore)
      this.restoreFrom(restore, () => snapshots.restore(restore)).catch(fail)
    }
    if (ready.compactTo === undefined) return false
    this.log.compact(ready.compactTo)
    snapshots?.prune()
    return true
  }

  /**
   * The log now starts after `snapshot` (installed from the leader, or found at start): the
   * state machine is replaced by it (`restore`) before anything after it is applied.
   */
  restoreFrom(snapshot: SnapshotInfo, restore: () => Promise<void>): Promise<void> {
    this.applied = Math.max(this.applied, snapshot.index)
    this.applying = this.applying.then(async () => {
      await restore()
      this.done = Math.max(this.done, snapshot.index)
      this.answerReads()
    })
    return this.applying
  }

  private answerReads(): void {
    for (let i = this.waitingReads.length - 1; i >= 0; i--) {
      const read = this.waitingReads[i] as { index: number; resolve(): void }
      if (read.index <= this.done) {
        this.waitingReads.splice(i, 1)
        read.resolve()
      }
    }
  }

  /** Fails every proposal waiting: this replica no longer leads, so it cannot say what became of them. */
  failWaiting(reason: string): void {
    for (const [index, waiting] of this.pending) waiting.reject(new RaftLogError('ERR_LEADERSHIP_LOST', `Group ${this.group}: ${reason}; the entry at index ${index} may or may not be applied`))
    this.pending.clear()
  }
}
