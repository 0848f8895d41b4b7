// A node's TLS material, read and checked when the node starts (before it binds its port), so a
// missing file, a key that does not match its certificate or a certificate for another node is
// one clear line at start, never a failed handshake at the first connection. The CA files were
// already checked when the configuration was loaded; each node reads only its own key, so a
// machine needs only the key of the node it runs.
import { createPrivateKey, type X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { RaftLogError } from '../../errors.js'
import type { ClusterConfig } from '../config/cluster-config.js'
import { invalid } from '../config/config-fields.js'
import { issuedByOneOf, nodeIdOf, nodeUri, parseCertificates } from './node-identity.js'
import { checkReadable, forNode } from '../config/tls-settings.js'

/** What a node with peer TLS holds: its identity and whom it trusts. */
export interface NodeTls {
  /** This node's id: what its certificate names. */
  nodeId: number
  /** The cluster CA file's bytes (PEM): peers' certificates must be signed by it. */
  peerCa: Buffer
  /** The same certificates, parsed: which CA a presented certificate chains to. */
  peerAuthorities: X509Certificate[]
  /** This node's certificate (PEM), shown to peers and clients. */
  cert: Buffer
  /** Its private key (PEM). */
  key: Buffer
  /** Set when clients must present a certificate: the CA that signs them. */
  clientAuth?: { ca: Buffer; authorities: X509Certificate[] }
  /**
   * client_tls.ca_file, whenever it is given (with or without client_cert_auth): a certificate
   * it signed authenticates a client's membership and leadership calls (admin-auth.ts).
   */
  clientCa?: { ca: Buffer; authorities: X509Certificate[] }
}

/** A file's bytes, or the configuration error naming the field and the file. */
function readPem(file: string, path: string, field: string): Buffer {
  checkReadable(file, path, field)
  return readFileSync(file)
}

function authorities(file: string, path: string, field: string): { ca: Buffer; authorities: X509Certificate[] } {
  const ca = readPem(file, path, field)
  let parsed: X509Certificate[]
  try {
    parsed = parseCertificates(ca)
  } catch (error) {
    throw invalid(path, field, `names ${file}, which holds a damaged certificate (${(error as Error).message})`)
  }
  if (parsed.length === 0) throw invalid(path, field, `names ${file}, which holds no PEM certificate`)
  return { ca, authorities: parsed }
}

/** The node's certificate, checked: it parses, names this node, is signed by the cluster CA, and matches the key. */
function nodeCertificate(cert: Buffer, key: Buffer, files: { cert: string; key: string }, nodeId: number, trusted: X509Certificate[], path: string): void {
  const field = 'cluster_settings.peer_tls.cert_file'
  const [certificate] = (() => {
    try {
      return parseCertificates(cert)
    } catch (error) {
      throw invalid(path, field, `names ${files.cert}, which holds a damaged certificate (${(error as Error).message})`)
    }
  })()
  if (certificate === undefined) throw invalid(path, field, `names ${files.cert}, which holds no PEM certificate`)
  const named = nodeIdOf(certificate)
  if (named !== nodeId) {
    const says = named === undefined ? 'names no node (no single URI SAN raftlog://node/<id>)' : `names node ${named}`
    throw invalid(path, field, `names ${files.cert}, whose certificate ${says}, not node ${nodeId} (${nodeUri(nodeId)})`)
  }
  if (!issuedByOneOf(certificate.raw, trusted)) throw invalid(path, field, `names ${files.cert}, which is not signed by the CA of cluster_settings.peer_tls.ca_file`)
  try {
    if (!certificate.checkPrivateKey(createPrivateKey(key))) throw new Error('the key is not the certificate\'s')
  } catch (error) {
    throw invalid(path, 'cluster_settings.peer_tls.key_file', `names ${files.key}, which does not match ${files.cert} (${(error as Error).message})`)
  }
}

/** Node `nodeId`'s TLS material, or undefined when the cluster runs in plaintext. */
export function readNodeTls(cluster: ClusterConfig, nodeId: number): NodeTls | undefined {
  const settings = cluster.peerTls
  if (settings === undefined) return undefined
  const path = cluster.path
  const files = { cert: forNode(settings.certFile, nodeId), key: forNode(settings.keyFile, nodeId) }
  const peer = authorities(settings.caFile, path, 'cluster_settings.peer_tls.ca_file')
  const cert = readPem(files.cert, path, 'cluster_settings.peer_tls.cert_file')
  const key = readPem(files.key, path, 'cluster_settings.peer_tls.key_file')
  nodeCertificate(cert, key, files, nodeId, peer.authorities, path)
  const tls: NodeTls = { nodeId, peerCa: peer.ca, peerAuthorities: peer.authorities, cert, key }
  const client = cluster.clientTls
  if (client?.clientCertAuth === true && client.caFile === undefined) throw new RaftLogError('ERR_CONFIG', `Invalid configuration file ${path}: cluster_settings.client_tls.ca_file is missing`)
  if (client?.caFile !== undefined) tls.clientCa = authorities(client.caFile, path, 'cluster_settings.client_tls.ca_file')
  if (client?.clientCertAuth === true) tls.clientAuth = tls.clientCa
  return tls
}
