// A node outside the configuration file: one that joins a running cluster (--join), or restarts
// after it joined; and the warning when the file and the membership in the log disagree.
import { RaftLogError } from '../../errors.js'
import { membersOf, describeConfiguration, removedOf, type Configuration } from '../../raft/core/configuration.js'
import type { ClusterConfig, NodeConfig } from '../config/cluster-config.js'
import { ClusterClient } from '../client/cluster-client.js'
import { clientTlsOf } from '../tls/client-tls.js'
import { isHostPort } from '../config/host-port.js'
import type { NodeTls } from '../tls/tls-files.js'
import { isClusterId } from '../transport/message-check.js'
import { describeText } from '../../raft/node/log-text.js'

/** How long a new node waits for the cluster to add it: a leader election or two. */
export const joinTimeoutMs = 30_000

/**
 * This node's entry when the file does not list it: made up from `address` (host:port). Throws
 * ERR_CONFIG when there is no address, or when `mustBeListed` (a new directory and no --join:
 * the node would found a cluster of its own).
 */
export function unlistedNode(cluster: ClusterConfig, nodeId: number, address: string | undefined, mustBeListed: boolean): NodeConfig {
  const ids = cluster.nodes.map((node) => node.nodeId).join(', ')
  if (mustBeListed) {
    throw new RaftLogError('ERR_CONFIG', `Node ID ${nodeId} not found in configuration file ${cluster.path} (ids: ${ids}); to add a new node to a running cluster, start it with --join ADDRESS --listen HOST:PORT`, { nodeId, file: cluster.path })
  }
  if (address === undefined) {
    throw new RaftLogError('ERR_CONFIG', `Node ID ${nodeId} is not in configuration file ${cluster.path} (ids: ${ids}): give the address it serves at with --listen HOST:PORT`, { nodeId, file: cluster.path })
  }
  if (!isHostPort(address)) throw new RaftLogError('ERR_BAD_ARGUMENT', `--listen must be HOST:PORT (e.g. 127.0.0.1:18004), got '${address}'`, { argument: 'listen' })
  const colon = address.lastIndexOf(':')
  return { nodeId, ipAddress: address.slice(0, colon).replace(/^\[(.*)\]$/, '$1'), port: Number(address.slice(colon + 1)), address }
}

/**
 * Asks `cluster`, through the member at `via`, to add `member` as a learner; resolves with the
 * cluster's id and the configuration that names it. ERR_JOIN naming `via` when it fails.
 */
export async function joinCluster(cluster: ClusterConfig, via: string, member: { id: number; address: string }, own?: NodeTls): Promise<{ clusterId: string; configuration: Configuration; memberSince: number }> {
  // With TLS, the same credentials as raftlog's own client commands (client_tls in the file);
  // without a client certificate there, the node's own: Join needs one (admin-auth.ts).
  const configured = clientTlsOf(cluster)
  const tls = configured?.cert === undefined && own !== undefined ? { ca: own.peerCa, cert: own.cert, key: own.key } : configured
  // Fails at once when nothing listens at `via`, rather than at the timeout.
  const client = new ClusterClient([via], [], { failFast: true, ...(tls === undefined ? {} : { tls }) })
  try {
    const joined = await client.join(member, joinTimeoutMs)
    // What a member answers ends up in this node's state file and log lines: only a real id.
    if (!isClusterId(joined.clusterId)) throw new RaftLogError('ERR_JOIN', `a cluster id must be 32 hex digits; the answer held ${describeText(joined.clusterId)}`)
    return joined
  } catch (error) {
    const reason = (error as Error).message
    throw new RaftLogError('ERR_JOIN', `Node ${member.id} could not join the cluster through ${via}: ${reason}`, { address: via })
  } finally {
    client.close()
  }
}

/**
 * What differs between the configuration file's nodes and the membership in the log, as a
 * warning; undefined when they agree. After the first start the log decides: the file only
 * bootstraps a new cluster (and tells clients where to look).
 */
export function membershipDrift(cluster: ClusterConfig, configuration: Configuration): string | undefined {
  const members = membersOf(configuration)
  if (members.length === 0) return undefined
  const listed = cluster.nodes.map((node) => node.nodeId)
  const removed = removedOf(configuration)
  const notMembers = listed.filter((id) => !members.includes(id) && !removed.includes(id))
  const gone = listed.filter((id) => removed.includes(id))
  const notListed = members.filter((id) => !listed.includes(id))
  const moved = cluster.nodes.filter((node) => configuration.addresses[node.nodeId] !== undefined && configuration.addresses[node.nodeId] !== '' && configuration.addresses[node.nodeId] !== node.address)
  if (notMembers.length === 0 && gone.length === 0 && notListed.length === 0 && moved.length === 0) return undefined
  const parts = [
    ...(notMembers.length > 0 ? [`listed but not members: ${notMembers.join(', ')} (add them with raftlog member add, or start them with --join)`] : []),
    ...(gone.length > 0 ? [`listed but removed from the cluster: ${gone.join(', ')} (ids are never reused: add new machines under new ids)`] : []),
    ...(notListed.length > 0 ? [`members not listed: ${notListed.join(', ')}`] : []),
    ...moved.map((node) => `node ${node.nodeId} is at ${configuration.addresses[node.nodeId]} in the log, ${node.address} in the file`),
  ]
  return `membership in the log (${describeConfiguration(configuration)}) differs from ${cluster.path}: ${parts.join('; ')}. The log decides; the file only bootstraps a new cluster`
}
