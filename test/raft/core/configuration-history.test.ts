// The configurations a node knows by the index of their entries (Raft dissertation §4.1: a server
// uses the latest configuration in its log, committed or not, and falls back to the previous one
// when the log is cut), and what the core asks of them during a change.
import { describe, expect, it } from 'vitest'
import { ConfigurationHistory, type ConfigurationAt } from '../../../src/raft/core/configuration-history.js'
import { votersOnly, type Configuration } from '../../../src/raft/core/configuration.js'

function config(voters: number[], { outgoing = [], learners = [], clusterToken }: { outgoing?: number[]; learners?: number[]; clusterToken?: string } = {}): Configuration {
  return { voters, outgoing, learners, addresses: {}, ...(clusterToken === undefined ? {} : { clusterToken }) }
}

/** C_old (1,2,3) at 0, then the change that replaces 3 with 4: C_old,new at 10 and C_new at 12. */
const cOld = config([1, 2, 3])
const cJoint = config([1, 2, 4], { outgoing: [1, 2, 3] })
const cNew = config([1, 2, 4])

function history(...entries: [number, Configuration][]): ConfigurationHistory {
  return new ConfigurationHistory(entries.map(([index, config]): ConfigurationAt => ({ index, config })))
}

describe('ConfigurationHistory: what is in force', () => {
  it('uses the latest configuration, committed or not (dissertation §4.1)', () => {
    const h = history([0, cOld], [10, cJoint])
    expect(h.latest).toEqual(cJoint)
    expect(h.latestIndex).toBe(10)
  })

  it('answers the configuration in force at an index: the last at or below it (what a snapshot there holds)', () => {
    const h = history([5, cOld], [10, cJoint], [12, cNew])
    expect(h.entryAt(9)).toEqual({ index: 5, config: cOld })
    expect(h.entryAt(10)).toEqual({ index: 10, config: cJoint })
    expect(h.entryAt(11).index).toBe(10)
    expect(h.entryAt(100).index).toBe(12)
    // Below everything known: the oldest, which the snapshot (or state file) holds.
    expect(h.entryAt(2).index).toBe(5)
  })

  it('never starts empty', () => {
    expect(() => new ConfigurationHistory([])).toThrow('raft invariant')
  })

  it('tells since when a member has been one without a break (a new member never campaigns on configurations from before it joined)', () => {
    const h = history([0, cOld], [10, config([1, 2, 3], { learners: [4] })], [20, config([1, 2, 3, 4])], [30, config([1, 2, 4])])
    expect(h.memberSince(1)).toBe(0)
    expect(h.memberSince(4)).toBe(10)
    expect(h.memberSince(3)).toBe(0)
    expect(h.memberSince(9)).toBe(0)
    // An id that was a member, left and is one again counts from its return.
    const back = history([0, cOld], [10, config([1, 2])], [20, config([1, 2, 3])])
    expect(back.memberSince(3)).toBe(20)
  })
})

describe('ConfigurationHistory: following the log', () => {
  it('takes a Config entry newer than the latest', () => {
    const h = history([0, cOld])
    expect(h.append(10, cJoint)).toBe(true)
    expect(h.latestIndex).toBe(10)
  })

  it('ignores old news: a Config entry at or below the latest, received again by a node that started from a newer committed configuration', () => {
    const h = history([12, cNew])
    expect(h.append(10, cJoint)).toBe(false)
    expect(h.append(12, cJoint)).toBe(false)
    expect(h.latest).toEqual(cNew)
    expect(h.latestIndex).toBe(12)
  })

  it('falls back to the previous configuration when the log is cut before a Config entry (dissertation §4.1)', () => {
    const h = history([0, cOld], [10, cJoint], [12, cNew])
    expect(h.cutAfter(12)).toBe(false)
    expect(h.cutAfter(11)).toBe(true)
    expect(h.latest).toEqual(cJoint)
    expect(h.cutAfter(5)).toBe(true)
    expect(h.latest).toEqual(cOld)
  })

  it('keeps the configuration it started from through any cut (the snapshot\'s is committed)', () => {
    const h = history([8, cOld], [10, cJoint])
    expect(h.cutAfter(3)).toBe(true)
    expect(h.latestIndex).toBe(8)
    expect(h.cutAfter(3)).toBe(false)
  })

  it('forgets configurations older than the one in force at a snapshot, and still answers for indexes from the snapshot on', () => {
    const h = history([0, cOld], [10, cJoint], [12, cNew])
    h.forgetBefore(11)
    expect(h.entryAt(11)).toEqual({ index: 10, config: cJoint })
    expect(h.entryAt(12).index).toBe(12)
    // Nothing older is left to answer with.
    expect(h.entryAt(5).index).toBe(10)
    expect(h.memberSince(1)).toBe(10)
    // A snapshot below everything known forgets nothing.
    const whole = history([5, cOld], [10, cJoint])
    whole.forgetBefore(3)
    expect(whole.entryAt(7).index).toBe(5)
  })

  it('knows only the snapshot\'s configuration once a snapshot replaced the log', () => {
    const h = history([0, cOld], [10, cJoint])
    h.resetTo(50, cNew)
    expect(h.latestIndex).toBe(50)
    expect(h.entryAt(0)).toEqual({ index: 50, config: cNew })
    expect(h.cutAfter(20)).toBe(false)
  })
})

describe('ConfigurationHistory: the change under way', () => {
  it('has a change under way while the latest configuration is joint, committed or not', () => {
    const h = history([0, cOld], [10, cJoint])
    expect(h.changeUnderWay(9)).toBe(true)
    expect(h.changeUnderWay(10)).toBe(true)
  })

  it('has a change under way until C_new commits, and none after', () => {
    const h = history([0, cOld], [10, cJoint], [12, cNew])
    expect(h.changeUnderWay(11)).toBe(true)
    expect(h.changeUnderWay(12)).toBe(false)
  })

  it('has none for an uncommitted entry that only adds the cluster token: it changes nobody\'s vote', () => {
    const h = history([0, cOld], [4, config([1, 2, 3], { clusterToken: '0123456789abcdef0123456789abcdef' })])
    expect(h.changeUnderWay(3)).toBe(false)
  })

  it('has one for an uncommitted configuration with other members than the committed one', () => {
    const h = history([0, cOld], [4, config([1, 2, 3], { learners: [4] })])
    expect(h.changeUnderWay(3)).toBe(true)
    expect(h.changeUnderWay(4)).toBe(false)
  })

  it("starts the change at C_old,new's entry, in both of its steps (the configuration before it is C_old)", () => {
    const joint = history([0, cOld], [10, cJoint])
    expect(joint.changeStart()).toBe(10)
    expect(joint.entryAt(joint.changeStart() - 1).config).toEqual(cOld)
    const done = history([0, cOld], [10, cJoint], [12, cNew])
    expect(done.changeStart()).toBe(10)
    expect(done.entryAt(done.changeStart() - 1).config).toEqual(cOld)
    // A configuration not reached through a joint one starts at its own entry.
    expect(history([0, cOld], [4, config([1, 2, 3], { learners: [4] })]).changeStart()).toBe(4)
    expect(history([0, cOld]).changeStart()).toBe(0)
  })

  it('in C_old,new, names as leaving only the learners the change removes: leaving voters are still old voters', () => {
    const h = history([0, config([1, 2, 3], { learners: [5] })], [10, config([1, 2, 4], { outgoing: [1, 2, 3] })])
    expect(h.leavingMembers(1)).toEqual([5])
  })

  it("in C_new, names the members of C_old,new and C_old that C_new leaves out (they are fed the log a while longer to learn it)", () => {
    const h = history([0, config([1, 2, 3], { learners: [5] })], [10, config([1, 2, 4], { outgoing: [1, 2, 3] })], [12, cNew])
    expect(h.leavingMembers(1)).toEqual([3, 5])
  })

  it('never names the node asking (a leader C_new leaves out steps down; it does not feed itself)', () => {
    const h = history([0, cOld], [10, cJoint], [12, cNew])
    expect(h.leavingMembers(3)).toEqual([])
  })

  it('never names the members an earlier change removed', () => {
    const h = history([0, cOld], [10, cJoint], [12, cNew], [20, config([1, 4], { outgoing: [1, 2, 4] })], [22, config([1, 4])])
    expect(h.leavingMembers(1)).toEqual([2])
    expect(history([0, votersOnly([1, 2])]).leavingMembers(1)).toEqual([])
  })
})
