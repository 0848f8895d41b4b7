// Leadership transfer as the leader sees it (Raft dissertation §3.10): a target, an election
// timeout to get it elected, and the lease given away once TimeoutNow went out.
import { describe, expect, it } from 'vitest'
import { LeadershipTransfer } from '../../../src/raft/core/leadership-transfer.js'

describe('LeadershipTransfer', () => {
  it('has no target until one is chosen, and then has it', () => {
    const transfer = new LeadershipTransfer()
    expect(transfer.active).toBe(false)
    expect(transfer.target).toBe(0)
    transfer.start(3)
    expect(transfer.active).toBe(true)
    expect(transfer.target).toBe(3)
  })

  it('gives up after an election timeout of ticks, so the leader serves again (dissertation §3.10)', () => {
    const transfer = new LeadershipTransfer()
    transfer.start(3)
    for (let tick = 1; tick < 10; tick++) expect(transfer.tick(10), `tick ${tick}`).toBe(false)
    expect(transfer.tick(10)).toBe(true)
  })

  it('counts a new transfer from its own start', () => {
    const transfer = new LeadershipTransfer()
    transfer.start(3)
    for (let tick = 0; tick < 9; tick++) transfer.tick(10)
    transfer.abort()
    transfer.start(2)
    for (let tick = 1; tick < 10; tick++) expect(transfer.tick(10), `tick ${tick}`).toBe(false)
    expect(transfer.tick(10)).toBe(true)
  })

  it('never times out when there is no transfer', () => {
    const transfer = new LeadershipTransfer()
    for (let tick = 0; tick < 20; tick++) expect(transfer.tick(10)).toBe(false)
  })

  it('voids the lease while a transfer is under way: the target will ask for votes that ignore it', () => {
    const transfer = new LeadershipTransfer()
    expect(transfer.voidsLease(4)).toBe(false)
    transfer.start(3)
    expect(transfer.voidsLease(4)).toBe(true)
    transfer.abort()
    expect(transfer.active).toBe(false)
    expect(transfer.voidsLease(4)).toBe(false)
  })

  it('voids the lease for the rest of the term once TimeoutNow went out, even after the transfer is given up (a late TimeoutNow still elects)', () => {
    const transfer = new LeadershipTransfer()
    transfer.start(3)
    transfer.timeoutNowSent(4)
    transfer.abort()
    expect(transfer.active).toBe(false)
    expect(transfer.voidsLease(4)).toBe(true)
    // A later term's leadership starts with a lease of its own.
    expect(transfer.voidsLease(5)).toBe(false)
    expect(transfer.timeoutNowTerm).toBe(4)
  })
})
