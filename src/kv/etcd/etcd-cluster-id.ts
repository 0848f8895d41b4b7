// etcd's cluster id, as raftlog's nodes give it in every answer's header, and the fix for the
// answers a follower relays from its leader.
import type { RaftNode } from '../../raft/node/raft-node.js'

let lastClusterId: { id: string; decimal: string } | undefined

/** etcd's cluster id is 64 bits: the first 64 of raftlog's 128, as a decimal string (above 2^53). */
export function clusterIdOf(node: RaftNode): string {
  const id = node.clusterId
  if (lastClusterId?.id === id) return lastClusterId.decimal
  const decimal = /^[0-9a-f]{16}/.test(id) ? BigInt(`0x${id.slice(0, 16)}`).toString() : '0'
  lastClusterId = { id, decimal }
  return decimal
}

/**
 * A leader's answer as a follower relays it: with the follower's own (the cluster's) id in its
 * header. The relay decodes 64-bit fields as JavaScript numbers, exact to 2^53 only, and the
 * cluster id came out with its low bits lost: another id than the one every direct answer gives.
 */
export function withExactClusterId<T>(node: RaftNode, answer: T): T {
  const header = (answer as { header?: { cluster_id?: unknown } | null } | null | undefined)?.header
  if (header != null) header.cluster_id = clusterIdOf(node)
  return answer
}
