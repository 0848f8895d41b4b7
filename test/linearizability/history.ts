// Records what clients did, for the linearizability checker: each operation's call, and then its
// output, or that it certainly failed, or that nobody knows whether it took effect.

import type { Operation } from './checker.js'

/** A recorded invocation, handed back to the recorder when its outcome is known. */
export type OpHandle = number

interface Recorded<Input, Output> {
  op: Operation<Input, Output>
  /** Still waiting for ok/fail/unknown. */
  pending: boolean
  /** Definitely not applied: left out of the history. */
  failed: boolean
}

export class HistoryRecorder<Input, Output> {
  private readonly records: Recorded<Input, Output>[] = []
  private lastTime = -Infinity
  private readonly clock: () => number

  /**
   * `clock` gives each event its time. The default counts recorded events: within one process the
   * order in which a recorder hears of events is their real order, so this is exact. A simulator
   * passes its virtual ticks instead (readable times; events at one tick then count as concurrent,
   * a weaker check), and histories merged from several processes need a shared clock.
   */
  constructor(clock?: () => number) {
    let events = 0
    this.clock = clock ?? (() => events++)
  }

  invoke(clientId: number, input: Input): OpHandle {
    const op: Operation<Input, Output> = { clientId, input, call: this.now(), return: undefined, output: undefined }
    this.records.push({ op, pending: true, failed: false })
    return this.records.length - 1
  }

  /** The operation took effect and returned `output`. */
  ok(handle: OpHandle, output: Output): void {
    const record = this.settle(handle)
    record.op.return = this.now()
    record.op.output = output
  }

  /** The operation certainly did not take effect (rejected before it reached the log, say): it is left out. */
  fail(handle: OpHandle): void {
    this.settle(handle).failed = true
  }

  /** Nobody knows whether the operation took effect (a timeout, a lost connection): it may, at any later time, or never. */
  unknown(handle: OpHandle): void {
    const record = this.settle(handle)
    record.op.return = this.now()
    record.op.unknown = true
  }

  /** Every operation but the failed ones, copied; one still pending counts as unknown. */
  history(): Operation<Input, Output>[] {
    return this.records
      .filter((record) => !record.failed)
      .map(({ op, pending }) => (pending ? { ...op, unknown: true } : { ...op }))
  }

  private settle(handle: OpHandle): Recorded<Input, Output> {
    const record = this.records[handle]
    if (record === undefined) throw new RangeError(`No operation ${handle} was invoked on this recorder`)
    if (!record.pending) throw new Error(`Operation ${handle} (client ${record.op.clientId}) already has its outcome`)
    record.pending = false
    return record
  }

  /** A clock reading, asserted not to go backwards: a history out of order is worse than none. */
  private now(): number {
    const time = this.clock()
    if (!(time >= this.lastTime)) throw new RangeError(`The history clock went from ${this.lastTime} back to ${time}`)
    this.lastTime = time
    return time
  }
}
