// The applier on its own: committed entries reach the state machine in order, once, in slices that
// hand the event loop back, and a slice ends where a snapshot is due.
import { describe, expect, it } from 'vitest'
import { EntryType, type LogEntry } from '../../../src/storage/log-entry.js'
import { Applier, maxApplySliceEntries } from '../../../src/raft/node/applier.js'

function logOf(count: number): { slice(from: number, to: number): LogEntry[] } {
  const entries = Array.from({ length: count }, (_, i) => ({ index: i + 1, term: 1, type: EntryType.Normal, data: new Uint8Array([i & 0xff]) }))
  return { slice: (from, to) => entries.slice(from - 1, to - 1) }
}

interface Run {
  applier: Applier
  applied: number[]
  sliceEnds: number[]
  idle(): Promise<void>
}

function applierOver(count: number, options: { sliceEndsAt?: () => number | undefined; apply?: (entry: LogEntry) => unknown } = {}): Run {
  const applied: number[] = []
  const sliceEnds: number[] = []
  let failure: Error | undefined
  const applier = new Applier({
    log: logOf(count),
    stateMachine: { apply: (entry) => (options.apply ?? (() => undefined))(entry) },
    appliedIndex: 0,
    onApplied: (entry) => applied.push(entry.index),
    onSliceApplied: (lastApplied) => sliceEnds.push(lastApplied),
    sliceEndsAt: options.sliceEndsAt,
    onFailure: (error) => (failure = error),
  })
  const idle = async (): Promise<void> => {
    while (applier.lastApplied < count && failure === undefined) await new Promise((resolve) => setTimeout(resolve, 1))
    if (failure !== undefined) throw failure
  }
  return { applier, applied, sliceEnds, idle }
}

describe('Applier', () => {
  it('applies every committed entry once, in order, and nothing past the commit index', async () => {
    const run = applierOver(3000)
    run.applier.advanceTo(2000)
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(run.applier.lastApplied).toBe(2000)
    run.applier.advanceTo(3000)
    await run.idle()
    expect(run.applied).toEqual(Array.from({ length: 3000 }, (_, i) => i + 1))
    // Slices are bounded, so timers and messages get the event loop between them.
    expect(Math.max(...run.sliceEnds.map((end, i) => end - (run.sliceEnds[i - 1] ?? 0)))).toBeLessThanOrEqual(maxApplySliceEntries)
  })

  it('ends a slice where a snapshot is due, so the snapshot is taken at the same index on any machine', async () => {
    const run = applierOver(120, { sliceEndsAt: () => 50 })
    run.applier.advanceTo(120)
    await run.idle()
    // Without the bound, 120 fast entries are one slice and the snapshot lands at 120 (or, on a
    // loaded machine, wherever 5 ms ran out).
    expect(run.sliceEnds[0]).toBe(50)
    expect(run.applied).toHaveLength(120)
  })

  it('runs work between two entries, seeing exactly the entries applied before it', async () => {
    let state = 0
    const run = applierOver(500, { apply: () => state++ })
    run.applier.advanceTo(500)
    const seen = await run.applier.betweenTwoEntries(() => [run.applier.lastApplied, state])
    expect(seen[0]).toBe(seen[1])
    await run.idle()
    expect(state).toBe(500)
  })
})
