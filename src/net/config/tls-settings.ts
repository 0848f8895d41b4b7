// The TLS settings of a cluster configuration: `cluster_settings.peer_tls` and
// `cluster_settings.client_tls`, checked as cluster-config.ts checks every other setting
// (unknown keys refused, errors naming the file and the field). Paths are taken relative to the
// configuration file's directory. The files themselves are read by tls-files.ts.
//
// One port serves peers and clients (node-server.ts), so a node has one TLS identity: its peer
// certificate, shown to peers and clients alike. Hence client_tls needs peer_tls, and its
// cert_file/key_file are not the node's: they are the client certificate that raftlog's own
// client commands (kv, status, dashboard, cluster) present when run with this configuration.
import { accessSync, constants, statSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { invalid, record } from './config-fields.js'

/** What stands for the node's id in peer_tls.cert_file and key_file: one setting serves every node. */
export const nodeIdPlaceholder = '{node_id}'

export interface PeerTlsSettings {
  /** Absolute path of the cluster CA's certificate (PEM; several certificates allowed). */
  caFile: string
  /** Absolute path of each node's certificate (PEM), `{node_id}` standing for the node's id. */
  certFile: string
  /** Absolute path of each node's private key (PEM), `{node_id}` standing for the node's id. */
  keyFile: string
}

export interface ClientTlsSettings {
  /** Whether a client must present a certificate signed by caFile. */
  clientCertAuth: boolean
  /** Absolute path of the CA that signs client certificates (PEM); required with clientCertAuth. */
  caFile?: string
  /** The client certificate raftlog's client commands present with this configuration (absolute path). */
  certFile?: string
  /** Its private key (absolute path). */
  keyFile?: string
}

/** The path of a peer_tls file for one node. */
export function forNode(template: string, nodeId: number): string {
  return template.split(nodeIdPlaceholder).join(String(nodeId))
}

function filePath(value: unknown, path: string, field: string): string {
  if (value === undefined || value === null) throw invalid(path, field, 'is missing')
  if (typeof value !== 'string' || value.length === 0) throw invalid(path, field, `must be a file path, got ${JSON.stringify(value)}`)
  return resolve(dirname(path), value)
}

/** Throws the one-line configuration error when `file` (named by `field`) cannot be read. */
export function checkReadable(file: string, path: string, field: string): void {
  try {
    if (statSync(file).isDirectory()) throw invalid(path, field, `names ${file}, a directory, not a PEM file`)
    accessSync(file, constants.R_OK)
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_CONFIG') throw error
    const code = (error as { code?: string }).code
    throw invalid(path, field, `names ${file}, which ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? (error as Error).message})`}`)
  }
}

/** cluster_settings.peer_tls, or undefined when absent. The CA file must be readable now. */
export function peerTlsSettings(value: unknown, path: string, checkFiles = true): PeerTlsSettings | undefined {
  if (value === undefined || value === null) return undefined
  const field = 'cluster_settings.peer_tls'
  const settings = record(value, path, field, ['ca_file', 'cert_file', 'key_file'])
  const caFile = filePath(settings.ca_file, path, `${field}.ca_file`)
  if (checkFiles) checkReadable(caFile, path, `${field}.ca_file`)
  return { caFile, certFile: filePath(settings.cert_file, path, `${field}.cert_file`), keyFile: filePath(settings.key_file, path, `${field}.key_file`) }
}

/** cluster_settings.client_tls, or undefined when absent. Files without the node id must be readable now. */
export function clientTlsSettings(value: unknown, path: string, peer: PeerTlsSettings | undefined, checkFiles = true): ClientTlsSettings | undefined {
  if (value === undefined || value === null) return undefined
  const field = 'cluster_settings.client_tls'
  const settings = record(value, path, field, ['ca_file', 'cert_file', 'key_file', 'client_cert_auth'])
  if (peer === undefined) {
    throw invalid(path, field, 'needs peer_tls too: peers and clients share the node\'s port, and the node shows its peer certificate to both')
  }
  const clientCertAuth = settings.client_cert_auth ?? false
  if (typeof clientCertAuth !== 'boolean') throw invalid(path, `${field}.client_cert_auth`, `must be true or false, got ${JSON.stringify(clientCertAuth)}`)
  const result: ClientTlsSettings = { clientCertAuth }
  if (settings.ca_file !== undefined || clientCertAuth) {
    result.caFile = filePath(settings.ca_file, path, `${field}.ca_file`)
    if (checkFiles) checkReadable(result.caFile, path, `${field}.ca_file`)
  }
  if ((settings.cert_file === undefined) !== (settings.key_file === undefined)) {
    throw invalid(path, settings.cert_file === undefined ? `${field}.cert_file` : `${field}.key_file`, 'is missing: cert_file and key_file go together')
  }
  if (settings.cert_file !== undefined) {
    result.certFile = filePath(settings.cert_file, path, `${field}.cert_file`)
    result.keyFile = filePath(settings.key_file, path, `${field}.key_file`)
  }
  return result
}
