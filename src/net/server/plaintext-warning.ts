// The one warning of a plaintext node that others can reach: without peer_tls, anyone who can
// connect to its port can read and write every key and send Raft messages (checked for range
// and membership, but not for who really sent them).
import { isIP } from 'node:net'
import type { ClusterConfig, NodeConfig } from '../config/cluster-config.js'

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

/**
 * The warning of a node with peer TLS whose clients need no certificate (no client_cert_auth)
 * that others can reach: TLS hides the traffic but proves nothing about the client, so anyone
 * who can connect reads and writes every key. Membership and leadership calls still need a
 * certificate (admin-auth.ts). Undefined when it is loopback-only, plaintext or client_cert_auth.
 */
export function unauthenticatedClientsWarning(cluster: ClusterConfig, node: NodeConfig): string | undefined {
  if (cluster.peerTls === undefined || cluster.clientTls?.clientCertAuth === true || isLoopback(node.ipAddress)) return undefined
  return `clients need no certificate on ${node.address} (client_cert_auth is off): anyone who can connect can read and write every key; membership and leadership calls need a certificate from the cluster CA. Set cluster_settings.client_tls.client_cert_auth: true (see "Security model" in the README)`
}
