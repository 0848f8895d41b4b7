// The many-group commands' way to the cluster: the nodes of the configuration file, by id (the
// catalog and the leaders name nodes by id, so a bare --endpoints list would not do).
import { loadClusterConfig } from '../net/config/cluster-config.js'
import { GroupAdmin } from '../net/client/group-admin.js'
import { hostsOf } from '../kv/sharded/sharded-kv-node.js'

export function adminFrom(values: { config?: string | undefined }, timeoutMs: number): GroupAdmin {
  return new GroupAdmin(hostsOf(loadClusterConfig(values.config ?? 'cluster_config.yaml')), timeoutMs)
}
