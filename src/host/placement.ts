// Where a group's replicas live: R of the cluster's N hosts, chosen so that every host holds about
// as many replicas as any other. Pure and deterministic: every host that applies the same catalog
// entry computes the same placement, so the catalog's log holds only the request, and the tests
// need no cluster.
import { RaftLogError } from '../errors.js'

/** Replicas per group unless said otherwise (a majority survives one host's loss). */
export const defaultReplication = 3

/** R for a cluster of `hosts`: `replication`, or the default capped at the number of hosts. */
export function replicationFor(hosts: readonly number[], replication?: number): number {
  const r = replication ?? Math.min(defaultReplication, hosts.length)
  if (!Number.isSafeInteger(r) || r < 1 || r > hosts.length) {
    throw new RaftLogError('ERR_BAD_ARGUMENT', `replication must be a whole number from 1 to the number of hosts (${hosts.length}), got ${String(replication)}`, { argument: 'replication' })
  }
  return r
}

/**
 * The `replication` hosts of `hosts` a new group `group` goes on, given the replicas each existing
 * group has (`existing`): the hosts that hold the fewest replicas, ties broken by rotating from
 * the group's id, so that groups created in a row start at different hosts. Sorted by host id.
 */
export function placeGroup(group: number, hosts: readonly number[], existing: Iterable<readonly number[]>, replication: number): number[] {
  if (replication < 1 || replication > hosts.length) throw new RaftLogError('ERR_BAD_ARGUMENT', `Group ${group}: replication ${replication} is not from 1 to ${hosts.length} (the hosts)`, { argument: 'replication' })
  const load = new Map(hosts.map((host) => [host, 0]))
  for (const replicas of existing) for (const host of replicas) if (load.has(host)) load.set(host, (load.get(host) as number) + 1)
  const sorted = [...hosts].sort((a, b) => a - b)
  const start = group % sorted.length
  // Rotation order: the host at `start` first; a stable sort by load then keeps that order among equals.
  const rotated = [...sorted.slice(start), ...sorted.slice(0, start)]
  const chosen = rotated.sort((a, b) => (load.get(a) as number) - (load.get(b) as number)).slice(0, replication)
  return chosen.sort((a, b) => a - b)
}

/** Groups 1 to `groups` placed one after another on `hosts`, `replication` replicas each. */
export function placeGroups(hosts: readonly number[], groups: number, replication: number): Map<number, number[]> {
  const placed = new Map<number, number[]>()
  for (let group = 1; group <= groups; group++) placed.set(group, placeGroup(group, hosts, placed.values(), replication))
  return placed
}
