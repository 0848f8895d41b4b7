// A node of a many-group cluster from the cluster's configuration file: the sharded key-value host
// (sharded-kv-host.ts) on the node's address, its LogEngine in <log_directory>/host_<id>/ (apart
// from a one-group node's node_<id>/, whose files are of another format), groups and replication
// from the file's cluster_settings or the command line, and TLS from its peer_tls and client_tls
// as a one-group node takes them.
import { join } from 'node:path'
import { nodeNotFound, type ClusterConfig } from '../../net/config/cluster-config.js'
import { readNodeTls } from '../../net/tls/tls-files.js'
import { startShardedKvHost, type ShardedKvHost } from './sharded-kv-host.js'

/** The hosts of a cluster as RaftHost clients and servers name them. */
export function hostsOf(cluster: ClusterConfig): { id: number; address: string }[] {
  return cluster.nodes.map((node) => ({ id: node.nodeId, address: node.address }))
}

/**
 * The file's timing as a host's clock: one tick per heartbeat_interval, the election timeout range
 * in whole ticks (at least 2 apart, so that the randomness still ends split votes).
 */
export function hostTiming(cluster: ClusterConfig): { tickMs: number; electionTicks: [number, number] } {
  const tickMs = cluster.heartbeatInterval
  const min = Math.max(2, Math.round(cluster.electionTimeout[0] / tickMs))
  return { tickMs, electionTicks: [min, Math.max(min + 2, Math.round(cluster.electionTimeout[1] / tickMs))] }
}

/** Where node `nodeId` of a many-group cluster keeps its engine. */
export function hostDirectory(cluster: ClusterConfig, nodeId: number): string {
  return join(cluster.logDirectory, `host_${nodeId}`)
}

/**
 * Starts node `nodeId` of `cluster` (which must list it: a node that joins is added to the list
 * with its --listen address). `join`: host:port of a host of the running cluster to ask to take
 * this node (HostServerOptions.join); `joining`: the node is not a founder, so its catalog replica
 * learns the catalog instead of founding it (also at restarts after it joined).
 */
export async function startShardedKvNode(cluster: ClusterConfig, nodeId: number, settings: { groups: number; replication?: number; balanceIntervalMs?: number; join?: string; joining?: boolean; log?: (message: string) => void }): Promise<ShardedKvHost> {
  if (!cluster.nodes.some((node) => node.nodeId === nodeId)) throw nodeNotFound(cluster, nodeId)
  // With peer_tls: this node's certificate and key, read and checked before the port is bound.
  const tls = readNodeTls(cluster, nodeId)
  const replication = settings.replication ?? cluster.replication
  return startShardedKvHost({
    ...hostTiming(cluster),
    nodeId,
    hosts: hostsOf(cluster),
    dir: hostDirectory(cluster, nodeId),
    groups: settings.groups,
    ...(replication === undefined ? {} : { replication }),
    ...(cluster.commitDelayMs === undefined ? {} : { commitDelayMs: cluster.commitDelayMs }),
    ...(cluster.maxRequestBytes === undefined ? {} : { maxRequestBytes: cluster.maxRequestBytes }),
    ...(cluster.maxKeyBytes === undefined ? {} : { maxKeyBytes: cluster.maxKeyBytes }),
    // The file's snapshot settings hold for every group, as for a one-group node's log.
    snapshotEveryEntries: cluster.snapshotThreshold,
    snapshotTrailingEntries: cluster.snapshotTrailingEntries,
    ...(settings.balanceIntervalMs === undefined ? {} : { balanceIntervalMs: settings.balanceIntervalMs }),
    ...(settings.join === undefined ? {} : { join: settings.join }),
    ...(settings.joining === undefined ? {} : { joining: settings.joining }),
    ...(settings.log === undefined ? {} : { log: settings.log }),
    ...(tls === undefined ? {} : { tls }),
  })
}
