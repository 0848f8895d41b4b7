// Model-based property test: random sequences of operations on a real RaftLog with tiny
// segments, checked after every step against a plain array. Replay a failure with the seed and
// path fast-check prints: FC_SEED=<seed> FC_PATH=<path> npx vitest run test/storage/raft-log.model.test.ts
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { RaftLog, EntryType, type LogEntry } from '../../src/index.js'
import { silentLogger } from '../helpers/entries.js'
import { tempDir } from '../helpers/temp-dir.js'

const segmentSize = 4096

type Operation =
  | { kind: 'append'; count: number; termStep: number; sizes: number[] }
  | { kind: 'truncateAfter'; back: number }
  | { kind: 'compact'; ahead: number }
  | { kind: 'reset'; gap: number; termStep: number }
  | { kind: 'flush' }
  | { kind: 'reopen' }

const operation: fc.Arbitrary<Operation> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('append' as const), count: fc.integer({ min: 1, max: 12 }), termStep: fc.integer({ min: 0, max: 2 }), sizes: fc.array(fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 500, max: 6000 })), { minLength: 12, maxLength: 12 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('truncateAfter' as const), back: fc.integer({ min: 0, max: 30 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('compact' as const), ahead: fc.integer({ min: 0, max: 60 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reset' as const), gap: fc.integer({ min: -20, max: 50 }), termStep: fc.integer({ min: 0, max: 3 }) }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'flush' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'reopen' as const }) },
)

/** The plain in-memory model: entries[i] has index firstIndex + i. */
interface Model {
  firstIndex: number
  prevTerm: number
  entries: { term: number; type: EntryType; data: Uint8Array }[]
}

function modelLast(model: Model): number {
  return model.firstIndex + model.entries.length - 1
}

function modelLastTerm(model: Model): number {
  return model.entries.at(-1)?.term ?? model.prevTerm
}

function bytesFor(index: number, size: number): Uint8Array {
  const data = new Uint8Array(size)
  for (let i = 0; i < size; i++) data[i] = (index * 31 + i * 7) & 0xff
  return data
}

function check(log: RaftLog, model: Model): void {
  expect(log.firstIndex).toBe(model.firstIndex)
  expect(log.lastIndex).toBe(modelLast(model))
  expect(log.lastTerm).toBe(modelLastTerm(model))
  expect(log.termAt(model.firstIndex - 1)).toBe(model.prevTerm)
  expect(log.termAt(modelLast(model) + 1)).toBeUndefined()
  expect(log.get(modelLast(model) + 1)).toBeUndefined()
  const expected: LogEntry[] = model.entries.map((entry, i) => ({ index: model.firstIndex + i, ...entry }))
  expect(log.slice(model.firstIndex)).toEqual(expected)
  for (const entry of expected) {
    expect(log.termAt(entry.index)).toBe(entry.term)
  }
  if (expected.length > 0) {
    const middle = expected[expected.length >> 1] as LogEntry
    expect(log.get(middle.index)).toEqual(middle)
  }
}

function apply(log: RaftLog, model: Model, op: Operation, dir: string): RaftLog {
  switch (op.kind) {
    case 'append': {
      const term = modelLastTerm(model) + op.termStep
      const start = modelLast(model) + 1
      const batch = Array.from({ length: op.count }, (_, i) => ({
        term,
        type: (start + i) % 5 === 0 ? EntryType.NoOp : EntryType.Normal,
        data: bytesFor(start + i, op.sizes[i] ?? 0),
      }))
      expect(log.append(batch)).toBe(start + op.count - 1)
      model.entries.push(...batch)
      return log
    }
    case 'truncateAfter': {
      const index = Math.max(model.firstIndex - 1, modelLast(model) - op.back)
      log.truncateAfter(index)
      model.entries.length = index - model.firstIndex + 1
      return log
    }
    case 'compact': {
      const upTo = model.firstIndex - 1 + op.ahead
      log.compact(upTo)
      const first = log.firstIndex
      // Whole segments only: the new start is somewhere in (old start .. upTo + 1], never past the end.
      expect(first).toBeGreaterThanOrEqual(model.firstIndex)
      expect(first).toBeLessThanOrEqual(Math.max(model.firstIndex, Math.min(upTo + 1, modelLast(model) + 1)))
      const dropped = first - model.firstIndex
      if (dropped > 0) {
        model.prevTerm = (model.entries[dropped - 1] as { term: number }).term
        model.entries.splice(0, dropped)
        model.firstIndex = first
      }
      return log
    }
    case 'reset': {
      const nextIndex = Math.max(1, modelLast(model) + 1 + op.gap)
      const prevTerm = modelLastTerm(model) + op.termStep
      log.reset(nextIndex, prevTerm)
      model.firstIndex = nextIndex
      model.prevTerm = prevTerm
      model.entries = []
      return log
    }
    case 'flush':
      log.flushSync()
      return log
    case 'reopen':
      log.close()
      return RaftLog.open(dir, { segmentSize, logger: silentLogger })
  }
}

describe('RaftLog against an in-memory model', () => {
  it('agrees with the model after every step of random operation sequences', () => {
    const seed = process.env.FC_SEED === undefined ? undefined : Number(process.env.FC_SEED)
    const path = process.env.FC_PATH
    fc.assert(
      fc.property(fc.array(operation, { minLength: 1, maxLength: 60 }), (ops) => {
        const dir = tempDir('raftlog-model-')
        let log = RaftLog.open(dir, { segmentSize, logger: silentLogger })
        const model: Model = { firstIndex: 1, prevTerm: 0, entries: [] }
        try {
          for (const op of ops) {
            log = apply(log, model, op, dir)
            check(log, model)
          }
          log.close()
          log = RaftLog.open(dir, { segmentSize, logger: silentLogger })
          check(log, model)
          expect(log.recovery.cutBytes).toBe(0)
        } finally {
          log.close()
        }
      }),
      { numRuns: 80, ...(seed === undefined ? {} : { seed }), ...(path === undefined ? {} : { path }) },
    )
  })
})
