// Placement of groups' replicas on hosts (placement.ts) and the leader balancer's plan
// (leader-balance.ts): pure functions, checked against the evenness they promise.
import { describe, expect, it } from 'vitest'
import { placeGroup, placeGroups, replicationFor } from '../../src/host/placement.js'
import { planLeaderTransfers } from '../../src/host/leader-balance.js'

function replicasPerHost(placed: Map<number, number[]>): Map<number, number> {
  const load = new Map<number, number>()
  for (const replicas of placed.values()) for (const host of replicas) load.set(host, (load.get(host) ?? 0) + 1)
  return load
}

describe('placement', () => {
  it('puts each group on R distinct hosts, every host holding as many replicas as any other, give or take one', () => {
    for (const [hosts, groups, r] of [[3, 8, 3], [5, 64, 3], [7, 100, 3], [4, 9, 1], [6, 10, 2]] as const) {
      const ids = Array.from({ length: hosts }, (_, i) => i + 1)
      const placed = placeGroups(ids, groups, r)
      expect(placed.size).toBe(groups)
      for (const replicas of placed.values()) {
        expect(new Set(replicas).size).toBe(r)
        for (const host of replicas) expect(ids).toContain(host)
      }
      const load = [...replicasPerHost(placed).values()]
      expect(load.length).toBe(hosts)
      expect(Math.max(...load) - Math.min(...load)).toBeLessThanOrEqual(1)
    }
  })

  it('places a new group on the hosts holding the fewest replicas', () => {
    const existing = [[1, 2, 3], [1, 2, 4], [1, 3, 4]]
    // Host 5 holds nothing, host 2, 3 and 4 two each, host 1 three.
    expect(placeGroup(4, [1, 2, 3, 4, 5], existing, 3)).toEqual(expect.arrayContaining([5]))
    expect(placeGroup(4, [1, 2, 3, 4, 5], existing, 3)).not.toContain(1)
  })

  it('is deterministic: the same catalog gives every host the same answer', () => {
    expect(placeGroups([3, 1, 2, 5, 4], 20, 3)).toEqual(placeGroups([1, 2, 3, 4, 5], 20, 3))
  })

  it('takes R from 1 to N, 3 by default (capped at N), and names the argument otherwise', () => {
    expect(replicationFor([1, 2, 3, 4, 5])).toBe(3)
    expect(replicationFor([1, 2])).toBe(2)
    expect(replicationFor([1, 2, 3, 4, 5], 5)).toBe(5)
    expect(() => replicationFor([1, 2, 3], 4)).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGUMENT', message: expect.stringMatching(/^replication must be .* from 1 to the number of hosts \(3\), got 4/) }))
    expect(() => replicationFor([1, 2, 3], 0)).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGUMENT' }))
  })
})

describe('leader balance', () => {
  const hosts = [1, 2, 3]
  const everywhere = new Map(Array.from({ length: 8 }, (_, i) => [i + 1, hosts]))

  function after(leaders: Map<number, number>, replicas = everywhere, rounds = 10): Map<number, number> {
    const now = new Map(leaders)
    for (let round = 0; round < rounds; round++) for (const { group, to } of planLeaderTransfers(hosts, replicas, now)) now.set(group, to)
    return now
  }

  function ledPerHost(leaders: Map<number, number>): number[] {
    return hosts.map((host) => [...leaders.values()].filter((leader) => leader === host).length)
  }

  it('moves leaderships off a host that leads every group until the hosts lead 3, 3 and 2', () => {
    const allOnOne = new Map([...everywhere.keys()].map((group) => [group, 1]))
    const plan = planLeaderTransfers(hosts, everywhere, allOnOne)
    expect(plan.length).toBeGreaterThan(0)
    for (const transfer of plan) expect(transfer.from).toBe(1)
    expect(ledPerHost(after(allOnOne)).sort()).toEqual([2, 3, 3])
  })

  it('plans nothing when leaders are even, or differ by one', () => {
    const even = new Map([[1, 1], [2, 2], [3, 3], [4, 1], [5, 2], [6, 3], [7, 1], [8, 2]])
    expect(planLeaderTransfers(hosts, everywhere, even)).toEqual([])
  })

  it('only hands a group to a host that holds one of its replicas, and leaves groups without a leader alone', () => {
    const replicas = new Map([[1, [1, 2]], [2, [1, 2]], [3, [1, 2]], [4, [1, 2]], [5, [2, 3]]])
    const leaders = new Map([[1, 1], [2, 1], [3, 1], [4, 1], [5, 0]])
    const plan = planLeaderTransfers(hosts, replicas, leaders)
    for (const { group, to } of plan) expect(replicas.get(group)).toContain(to)
    expect(plan.some(({ group }) => group === 5)).toBe(false)
    expect(ledPerHost(after(leaders, replicas))).toEqual([2, 2, 0])
  })

  it('plans at most the limit per round', () => {
    const allOnOne = new Map([...everywhere.keys()].map((group) => [group, 1]))
    expect(planLeaderTransfers(hosts, everywhere, allOnOne, 2)).toHaveLength(2)
  })
})
