// The many-group commands' way to the cluster: the nodes of the configuration file, by id (the
// catalog and the leaders name nodes by id, so a bare --endpoints list would not do), with the
// TLS the one-group commands use (clientFrom): --cacert, --cert and --key, or else the file's.
import type * as grpc from '@grpc/grpc-js'
import { loadClusterConfig, type ClusterConfig } from '../net/config/cluster-config.js'
import { GroupAdmin } from '../net/client/group-admin.js'
import { hostsOf } from '../kv/sharded/sharded-kv-node.js'
import { clientChannelCredentials, clientTlsOf, readClientTlsFiles, type ClientTlsFiles } from '../net/tls/client-tls.js'

/** A client's credentials for `cluster`'s nodes: from --cacert, --cert and --key when given, else from peer_tls and client_tls (plaintext without). */
export function hostCredentials(cluster: ClusterConfig, files: ClientTlsFiles = {}): grpc.ChannelCredentials {
  return clientChannelCredentials(readClientTlsFiles(files) ?? clientTlsOf(cluster))
}

export function adminFrom(values: { config?: string | undefined } & ClientTlsFiles, timeoutMs: number): GroupAdmin {
  const cluster = loadClusterConfig(values.config ?? 'cluster_config.yaml')
  return new GroupAdmin(hostsOf(cluster), timeoutMs, hostCredentials(cluster, values))
}
