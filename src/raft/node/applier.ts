// Applies committed entries to the state machine beside the Raft loop: ticks, messages and
// flushes never wait for it, and it hands the event loop back between bounded slices, so a slow
// state machine or a long replay at start cannot starve heartbeats.
import { EntryType, type LogEntry } from '../../storage/log-entry.js'
import type { StateMachine } from '../state-machine.js'

/** Payload bytes read from the log per slice. */
export const maxApplySliceBytes = 1024 * 1024
/** Entries read from the log per slice. */
export const maxApplySliceEntries = 1024
/** Milliseconds of applying after which the applier yields to the event loop. */
export const maxApplySliceMs = 5

export interface ApplierOptions {
  log: { slice(from: number, to: number, options: { maxBytes: number }): LogEntry[] }
  stateMachine: StateMachine
  /** Entries the state machine already holds. */
  appliedIndex: number
  /** Called after each entry, with apply()'s result or what it threw (no-ops: result undefined). */
  onApplied(entry: LogEntry, outcome: { result: unknown } | { error: Error }): void
  /** Called between entries, at the end of each slice: the place to take a snapshot. */
  onSliceApplied?(lastApplied: number): void
  /**
   * An index a slice must end at, when one is due there (the next snapshot point): a snapshot is
   * then taken at the same index whatever the machine's speed, not wherever a slice ran out of time.
   */
  sliceEndsAt?(): number | undefined
  /** Reading the log failed: the node cannot go on. */
  onFailure(error: Error): void
}

/**
 * Applies committed entries to the state machine beside the Raft loop, in log order, at its own
 * pace; pauses for a snapshot to be taken or restored.
 */
export class Applier {
  private applied: number
  private target: number
  private running: Promise<void> | undefined
  private stopped = false
  /** Paused while the state machine is replaced by a snapshot. */
  private paused = false
  /** Work to run at the next boundary between two entries. */
  private betweenEntries: (() => void)[] = []
  private readonly options: ApplierOptions

  constructor(options: ApplierOptions) {
    this.options = options
    this.applied = options.appliedIndex
    this.target = options.appliedIndex
  }

  /** The last index the state machine applied. */
  get lastApplied(): number {
    return this.applied
  }

  /** Entries up to `commitIndex` are committed: apply them, soon. */
  advanceTo(commitIndex: number): void {
    if (commitIndex <= this.target) return
    this.target = commitIndex
    this.kick()
  }

  /**
   * Runs `work` between two entries (now, when nothing is being applied): what it sees of the
   * state machine is the state after exactly lastApplied entries.
   */
  betweenTwoEntries<T>(work: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const run = (): void => {
        try {
          resolve(work())
        } catch (error) {
          reject(error as Error)
        }
      }
      if (this.running === undefined && !this.paused) run()
      else this.betweenEntries.push(run)
    })
  }

  /**
   * Replaces what the state machine holds: waits for the entry being applied, runs `restore`,
   * and goes on after `index` (the entries up to it are in the snapshot, no longer in the log).
   */
  async restoreTo(index: number, restore: () => Promise<void>): Promise<void> {
    this.paused = true
    try {
      await this.running
      await restore()
      this.applied = index
      this.target = Math.max(this.target, index)
    } finally {
      this.paused = false
    }
    this.kick()
    if (this.running === undefined) this.runBetweenEntries()
  }

  /** Stops applying (after the entry in progress) until restoreTo() or resume(): the log may change under it. */
  async pause(): Promise<void> {
    this.paused = true
    await this.running
  }

  resume(): void {
    this.paused = false
    this.kick()
    if (this.running === undefined) this.runBetweenEntries()
  }

  private kick(): void {
    if (this.running === undefined && !this.stopped && !this.paused && this.applied < this.target) {
      this.running = this.run().finally(() => {
        this.running = undefined
        this.runBetweenEntries()
      })
    }
  }

  private runBetweenEntries(): void {
    for (const work of this.betweenEntries.splice(0)) work()
  }

  /** Resolves once everything committed so far is applied (or the applier stopped). */
  async idle(): Promise<void> {
    while (this.running !== undefined) await this.running
  }

  /** Finishes the entry in progress, then applies nothing more. */
  async stop(): Promise<void> {
    this.stopped = true
    await this.running
  }

  private async run(): Promise<void> {
    try {
      while (!this.stopped && !this.paused && this.applied < this.target) {
        await this.applySlice()
        this.options.onSliceApplied?.(this.applied)
        this.runBetweenEntries()
        // Hand the event loop back: timers and messages wait at most one slice.
        await new Promise<void>((resolve) => setImmediate(resolve))
      }
    } catch (error) {
      this.stopped = true
      this.options.onFailure(error as Error)
    }
  }

  private async applySlice(): Promise<void> {
    const started = performance.now()
    const endsAt = this.options.sliceEndsAt?.()
    const bound = endsAt !== undefined && endsAt > this.applied ? endsAt : Infinity
    const to = Math.min(this.target, this.applied + maxApplySliceEntries, bound) + 1
    const entries = this.options.log.slice(this.applied + 1, to, { maxBytes: maxApplySliceBytes })
    for (const entry of entries) {
      if (this.stopped || this.paused) return
      let outcome = this.applyOne(entry)
      // Await only a promise: a synchronous state machine pays no microtask per entry.
      if (outcome instanceof Promise) outcome = await outcome
      this.applied = entry.index
      this.options.onApplied(entry, outcome)
      if (performance.now() - started > maxApplySliceMs) return
    }
  }

  private applyOne(entry: LogEntry): Outcome | Promise<Outcome> {
    if (entry.type !== EntryType.Normal) return { result: undefined }
    try {
      const result = this.options.stateMachine.apply(entry)
      if (!isPromiseLike(result)) return { result }
      return Promise.resolve(result).then(
        (value) => ({ result: value }),
        (error: unknown) => ({ error: error as Error }),
      )
    } catch (error) {
      return { error: error as Error }
    }
  }
}

type Outcome = { result: unknown } | { error: Error }

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function'
}
