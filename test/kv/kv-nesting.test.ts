// A transaction nested very deep, as one hostile client could send it: refused by a count, the
// same on every node, never by a stack overflow, whose depth depends on what called and what is
// compiled and so could fail on one replica and apply on another.
import { describe, expect, it } from 'vitest'
import { decodeKvCommand, decodeTxnResult, KvStateMachine } from '../../src/kv/kv-state-machine.js'
import { maxNestingDepth } from '../../src/kv/kv-blob-json.js'
import { EntryType } from '../../src/storage/log-entry.js'

/** A transaction's command bytes, written by hand as a client could: a put inside `levels` nested transactions. */
function nestedTxn(levels: number): Buffer {
  let op = '{"put":{"key":{"$b":0},"value":{"$b":1},"lease":0,"prevKv":false,"ignoreValue":false,"ignoreLease":false}}'
  for (let level = 0; level < levels; level++) op = `{"txn":{"compare":[],"success":[${op}],"failure":[]}}`
  const json = Buffer.from(`{"compare":[],"success":[${op}],"failure":[]}`)
  const u32 = (value: number): Buffer => Buffer.from(Uint32Array.of(value).buffer)
  return Buffer.concat([Buffer.of(6), u32(json.length), json, u32(1), Buffer.from('k'), u32(1), Buffer.from('v')])
}

/** Calls `action` with `frames` more frames on the stack: a replica whose apply runs deeper. */
function onDeeperStack<T>(frames: number, action: () => T): T {
  return frames === 0 ? action() : onDeeperStack(frames - 1, action)
}

describe('transactions nested deep', () => {
  it('are refused with ERR_BAD_COMMAND naming the depth, however deep, before anything recurses', () => {
    for (const levels of [70, 1000, 20_000]) {
      expect(() => decodeKvCommand(nestedTxn(levels))).toThrow(expect.objectContaining({ code: 'ERR_BAD_COMMAND', message: expect.stringContaining(`more than ${maxNestingDepth}`) }))
    }
  })

  it('apply alike on a shallow and a deep stack up to about 60 levels, and are refused alike past the limit (replicas never diverge)', () => {
    for (const levels of [60, 66, 800]) {
      // 800 levels applied on a shallow stack and overflowed 6,000 frames deeper, before the limit.
      const outcomes = [0, 6000].map((frames) => {
        const kv = new KvStateMachine()
        try {
          const answer = onDeeperStack(frames, () => kv.apply({ index: 1, term: 1, type: EntryType.Normal, data: nestedTxn(levels) }))
          return `applied at revision ${decodeTxnResult(answer).revision}`
        } catch (error) {
          return `${(error as { code?: string }).code}: ${(error as Error).message}`
        }
      })
      expect(outcomes[1]).toBe(outcomes[0])
      expect(outcomes[0]).toEqual(levels === 60 ? 'applied at revision 2' : expect.stringMatching(/^ERR_BAD_COMMAND: .*more than 200/))
    }
  })
})
