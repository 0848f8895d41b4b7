// Which leaderships to hand over so that every host leads about as many groups as any other: a
// leader is where a group's writes and reads are served, so leaders piled on one host make it the
// cluster's bottleneck while the others idle. Pure: the balancer (leader-balancer.ts in net/server)
// asks every host who leads what, plans here, and asks each leader to transfer.

/** Transfers planned at most per round: each costs the group a short pause in writes. */
export const maxTransfersPerRound = 4

export interface LeaderTransfer {
  group: number
  from: number
  to: number
}

/**
 * Transfers that even out leaders: while a host leads at least two groups more than another host
 * that holds a replica of one of them, that group's leadership moves there (the least loaded such
 * replica first). Groups with no known leader are left alone. At most `limit` transfers.
 */
export function planLeaderTransfers(hosts: readonly number[], replicas: ReadonlyMap<number, readonly number[]>, leaders: ReadonlyMap<number, number>, limit = maxTransfersPerRound): LeaderTransfer[] {
  const led = new Map<number, number>(hosts.map((host) => [host, 0]))
  const byLeader = new Map<number, number[]>(hosts.map((host) => [host, []]))
  for (const [group, leader] of leaders) {
    if (!led.has(leader) || !replicas.has(group)) continue
    led.set(leader, (led.get(leader) as number) + 1)
    ;(byLeader.get(leader) as number[]).push(group)
  }
  const count = (host: number): number => led.get(host) as number
  const plan: LeaderTransfer[] = []
  while (plan.length < limit) {
    const next = bestTransfer(hosts, replicas, byLeader, count)
    if (next === undefined) break
    plan.push(next)
    led.set(next.from, count(next.from) - 1)
    led.set(next.to, count(next.to) + 1)
    const fromGroups = byLeader.get(next.from) as number[]
    fromGroups.splice(fromGroups.indexOf(next.group), 1)
    ;(byLeader.get(next.to) as number[]).push(next.group)
  }
  return plan
}

/** From the host that leads the most, the group whose least-loaded replica leads two fewer or less. */
function bestTransfer(hosts: readonly number[], replicas: ReadonlyMap<number, readonly number[]>, byLeader: ReadonlyMap<number, number[]>, count: (host: number) => number): LeaderTransfer | undefined {
  const busiestFirst = [...hosts].sort((a, b) => count(b) - count(a) || a - b)
  for (const from of busiestFirst) {
    let best: LeaderTransfer | undefined
    for (const group of [...(byLeader.get(from) as number[])].sort((a, b) => a - b)) {
      for (const to of replicas.get(group) ?? []) {
        if (to === from || !hosts.includes(to) || count(to) > count(from) - 2) continue
        if (best === undefined || count(to) < count(best.to)) best = { group, from, to }
      }
    }
    if (best !== undefined) return best
  }
  return undefined
}
