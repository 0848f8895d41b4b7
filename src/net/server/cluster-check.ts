// At a node's start: do the other members belong to the cluster this directory belongs to? A
// directory copied from another cluster founded from the same node list (the quick start's, say)
// has the same founding id but another random token: its node would only churn terms among
// strangers that drop its messages. Refused at once instead, naming both ids.
import { RaftLogError } from '../../errors.js'
import type { RaftNode } from '../../raft/node/raft-node.js'
import { ClusterClient } from '../client/cluster-client.js'
import type { ClientTls } from '../tls/client-tls.js'
import type { NodeStatus } from '../client/node-status.js'

/** How long the start waits for the others' answers: members that are down are not waited for. */
export const clusterCheckTimeoutMs = 1500

/**
 * The statuses of the nodes at `addresses` that answer within clusterCheckTimeoutMs (none when
 * none does): what each check here asks, and raftlog recover before it changes anything.
 */
export async function answeringStatuses(addresses: readonly string[], tls: ClientTls | undefined): Promise<NodeStatus[]> {
  if (addresses.length === 0) return []
  const client = new ClusterClient([...addresses], [], { failFast: true, ...(tls === undefined ? {} : { tls }) })
  try {
    return (await client.statuses(clusterCheckTimeoutMs).catch(() => [])).filter((status) => status.reachable)
  } finally {
    client.close()
  }
}

/**
 * Asks the members at `addresses` (this node's own left out) for their cluster id. Throws
 * ERR_WRONG_CLUSTER when a member that knows its cluster's random token belongs to another
 * cluster than `node`, once `node` knows its own; members that are down or not sure yet pass.
 */
export async function checkSameCluster(node: RaftNode, addresses: readonly string[], tls: ClientTls | undefined): Promise<void> {
  const own = node.clusterId
  if (node.foundingId === '') return
  const statuses = await answeringStatuses(addresses, tls)
  // Before this node's cluster commits its token (a cluster just restored from a backup, say),
  // its founding id alone tells it: a member founded otherwise (restored from another backup
  // file, or with another node list) is a stranger.
  const stranger =
    own === node.foundingId
      ? statuses.find((status) => typeof status.foundingId === 'string' && status.foundingId !== '' && status.foundingId !== node.foundingId)
      : statuses.find((status) => status.clusterId !== undefined && status.clusterId !== '' && status.clusterId !== node.foundingId && status.clusterId !== own)
  if (stranger === undefined) return
  throw new RaftLogError(
    'ERR_WRONG_CLUSTER',
    `This node's directory belongs to cluster ${own}, but node ${stranger.id ?? '?'} at ${stranger.address} belongs to cluster ${stranger.clusterId}: the directory was copied from another cluster, or restored from another backup file or with another node list (raftlog snapshot restore: restore every node from the same file, with the same list), or node ${stranger.id ?? '?'} was recovered as a new cluster (raftlog recover), of which this node is not a member: never start this node beside it again; start this node with its own directory, or join it to this cluster under a new id with an empty one`,
    { clusterId: own, other: stranger.clusterId },
  )
}

/**
 * Before a node founds a new cluster from its configuration file (an empty directory, no
 * --join): do the other nodes of the file that answer belong to a cluster founded otherwise (from
 * another node list, or recovered as a new cluster with raftlog recover)? Then this node would
 * found a cluster of its own beside theirs (two leaders, each with part of the writes): refused
 * with ERR_WRONG_CLUSTER before its directory is touched. Nodes that are down pass.
 */
export async function checkFoundingBeside(nodeId: number, foundingId: string, addresses: readonly string[], file: string, tls: ClientTls | undefined): Promise<void> {
  const other = (await answeringStatuses(addresses, tls)).find((status) => typeof status.foundingId === 'string' && status.foundingId !== '' && status.foundingId !== foundingId)
  if (other === undefined) return
  throw new RaftLogError(
    'ERR_WRONG_CLUSTER',
    `Node ${nodeId} would found a new cluster from ${file}, but node ${other.id ?? '?'} at ${other.address} belongs to cluster ${other.clusterId} already (founded from another node list, or recovered as a new cluster): to add node ${nodeId} to it, run raftlog member add ${nodeId} ADDRESS, then start it with --join ${other.address}`,
    { clusterId: other.clusterId },
  )
}
