// The one warning of a plaintext node that others can reach: without peer_tls, anyone who can
// connect to its port can read and write every key and send Raft messages (checked for range
// and membership, but not for who really sent them).
import { isIP } from 'node:net'
import type { ClusterConfig, NodeConfig } from './cluster-config.js'

/** Whether `host` (an ip_address of the configuration) is only reachable from this machine. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true
  return isIP(host) === 4 && host.startsWith('127.')
}

/** The warning for node `node` of `cluster`, or undefined when it is loopback-only or uses TLS. */
export function plaintextWarning(cluster: ClusterConfig, node: NodeConfig): string | undefined {
  if (cluster.peerTls !== undefined || isLoopback(node.ipAddress)) return undefined
  return `serving Raft and clients in plaintext on ${node.address}, which other machines may reach: anyone who can connect can read and write every key and send Raft messages as a member; set cluster_settings.peer_tls and client_tls (see "Running across machines" in the README)`
}
