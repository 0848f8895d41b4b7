// The snapshot rounds' checker on its own: fed the writer's lines and a restored ledger built to
// match (or not), it must flag every way the restored state can be wrong.
import { describe, expect, it } from 'vitest'
import { EntryType } from '../../../src/index.js'
import type { RaftStatus } from '../../../src/raft/node/raft-node.js'
import { Ledger, proposalData, proposalId } from '../../../src/testing/crash/ledger.js'
import { SnapshotModel } from '../../../src/testing/crash/snapshot-model.js'

function feed(model: SnapshotModel, lines: string[]): void {
  for (const line of lines) model.observe(line)
}

/** A ledger that applied these [id, index] entries in this order. */
function ledgerOf(entries: [string, number][]): Ledger {
  const ledger = new Ledger()
  for (const [id, index] of entries) ledger.apply({ index, term: 1, type: EntryType.Normal, data: proposalData(id, new Uint8Array([10, 1, 2])) })
  return ledger
}

function status(lastApplied: number): RaftStatus {
  return { id: 1, role: 'leader', term: 2, leaderId: 1, commitIndex: lastApplied, lastApplied, firstIndex: 1, lastIndex: lastApplied, snapshotIndex: 0, snapshotTerm: 0, diskFull: false, diskFullReason: '', logBytes: 0, maxLogBytes: 0, configuration: { voters: [1], outgoing: [], learners: [], addresses: {} }, configurationIndex: 1, clusterId: '', foundingId: '' }
}

const acknowledgedThree = ['P 1.1', 'A 1.1 2', 'P 1.2', 'A 1.2 3', 'P 1.3', 'A 1.3 4', 'P 1.4']

describe('the snapshot crash-test checker', () => {
  it('accepts the acknowledged proposals, and one in flight that made it or not', () => {
    for (const entries of [[['1.1', 2], ['1.2', 3], ['1.3', 4]], [['1.1', 2], ['1.2', 3], ['1.3', 4], ['1.4', 5]]] as [string, number][][]) {
      const model = new SnapshotModel()
      feed(model, acknowledgedThree)
      expect(model.check(ledgerOf(entries), status(entries.at(-1)![1]), 1)).toEqual([])
    }
  })

  it('flags a lost proposal, one at another index, one applied twice and one never proposed', () => {
    const model = new SnapshotModel()
    feed(model, acknowledgedThree)
    const ledger = ledgerOf([['1.1', 2], ['1.3', 3], ['1.3', 4], ['9.9', 5]])
    const problems = model.check(ledger, status(5), 1).map((violation) => violation.problem)
    expect(problems).toEqual([
      'acknowledged proposal 1.2 is not in the restored state',
      'acknowledged proposal 1.3 was applied at index 3, not 4',
      'proposal 1.3 was applied 2 times',
      'proposal 9.9 in the restored state was never proposed',
    ])
  })

  it('flags an applied index below an acknowledged one, and one that went back since the last restart', () => {
    const model = new SnapshotModel()
    feed(model, acknowledgedThree)
    expect(model.check(ledgerOf([['1.1', 2], ['1.2', 3], ['1.3', 4]]), status(3), 1).map((violation) => violation.problem)).toContain(
      'the applied index 3 is below acknowledged index 4',
    )
    const again = new SnapshotModel()
    feed(again, acknowledgedThree)
    expect(again.check(ledgerOf([['1.1', 2], ['1.2', 3], ['1.3', 4]]), status(9), 1)).toEqual([])
    expect(again.check(ledgerOf([['1.1', 2], ['1.2', 3], ['1.3', 4]]), status(6), 2).map((violation) => violation.problem)).toEqual([
      'the applied index went back from 9 to 6',
    ])
  })

  it('holds a proposal found applied after a restart to it from then on, acknowledged or not', () => {
    const model = new SnapshotModel()
    feed(model, acknowledgedThree)
    expect(model.check(ledgerOf([['1.1', 2], ['1.2', 3], ['1.3', 4], ['1.4', 5]]), status(5), 1)).toEqual([])
    const problems = model.check(ledgerOf([['1.1', 2], ['1.2', 3], ['1.3', 4]]), status(5), 2).map((violation) => violation.problem)
    expect(problems).toEqual(['acknowledged proposal 1.4 is not in the restored state'])
  })

  it('the ledger notes an entry applied out of order, and its snapshot restores it exactly', async () => {
    const ledger = ledgerOf([['1.1', 2], ['1.2', 3]])
    ledger.apply({ index: 3, term: 1, type: EntryType.Normal, data: proposalData('1.3', new Uint8Array(0)) })
    expect(ledger.outOfOrder).toEqual(['entry 3 applied after entry 3'])
    const restored = new Ledger()
    const bytes = ledger.snapshot()
    await restored.restore((async function* () { yield bytes.subarray(0, 5); yield bytes.subarray(5) })(), { index: 3, term: 1 })
    expect([...restored.lines]).toEqual([...ledger.lines])
    expect(restored.lastIndex).toBe(3)
    expect(proposalId(proposalData('7.42', new Uint8Array([10, 10])))).toBe('7.42')
  })
})
