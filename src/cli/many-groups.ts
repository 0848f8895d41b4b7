// Whether the configuration's cluster runs many groups (raftlog cluster --groups N): the file says
// so (cluster_settings.groups), or else its nodes do: the first node to answer decides (a
// many-group node answers RaftHostClient, a one-group node says it does not serve it).
import * as grpc from '@grpc/grpc-js'
import type { ClusterConfig } from '../net/config/cluster-config.js'
import { HostClient } from '../net/client/host-client.js'
import { ShardedKvClient } from '../kv/sharded/sharded-kv-client.js'
import { GroupAdmin } from '../net/client/group-admin.js'
import { hostsOf } from '../kv/sharded/sharded-kv-node.js'

/** How long the nodes are given to say which kind they are (ms). */
const probeTimeoutMs = 1000

/** `credentials`: the client's (hostCredentials): a TLS node answers no plaintext probe. */
export async function runsManyGroups(cluster: ClusterConfig, credentials: grpc.ChannelCredentials): Promise<boolean> {
  if (cluster.groups !== undefined) return true
  const client = new HostClient(hostsOf(cluster), credentials)
  try {
    return await new Promise<boolean>((resolve) => {
      let left = cluster.nodes.length
      const settle = (): void => {
        if (--left === 0) resolve(false)
      }
      for (const node of cluster.nodes) {
        client.hostLeadersAt(node.nodeId, probeTimeoutMs).then(
          () => resolve(true),
          (error: grpc.ServiceError) => (error.code === grpc.status.UNIMPLEMENTED ? resolve(false) : settle()),
        )
      }
    })
  } finally {
    client.close()
  }
}

/** A client of the sharded key-value store of a many-group cluster, its shard count read from the catalog. */
export async function shardedClientFor(cluster: ClusterConfig, timeoutMs: number, credentials: grpc.ChannelCredentials): Promise<ShardedKvClient> {
  const admin = new GroupAdmin(hostsOf(cluster), timeoutMs, credentials)
  try {
    const { shards } = await admin.catalog()
    // With the hosts that joined the cluster after the file was written (the catalog says where).
    return new ShardedKvClient(admin.hosts, shards, timeoutMs, credentials)
  } finally {
    admin.close()
  }
}
