// A client's TLS credentials: the CA that signed the nodes' certificates, and, for a cluster with
// client_cert_auth, the client's own certificate and key. The CLI takes them as --cacert, --cert
// and --key (etcdctl's names); ClusterClient as PEM bytes (ClusterClientOptions.tls); by default
// both take them from the configuration (peer_tls.ca_file, client_tls.cert_file and key_file).
import { readFileSync } from 'node:fs'
import { createSecureContext } from 'node:tls'
import * as grpc from '@grpc/grpc-js'
import { RaftLogError } from '../../errors.js'
import type { ClusterConfig } from '../config/cluster-config.js'
import { checkReadable } from '../config/tls-settings.js'

export interface ClientTls {
  /** PEM of the CA that signed the nodes' certificates: each node's certificate is checked against it (and against the node's address). */
  ca: Uint8Array | string
  /** PEM of the client's certificate, for a cluster with client_cert_auth; with `key`. */
  cert?: Uint8Array | string
  /** PEM of its private key. */
  key?: Uint8Array | string
}

/** File paths of the same, as the CLI options give them. */
export interface ClientTlsFiles {
  cacert?: string | undefined
  cert?: string | undefined
  key?: string | undefined
}

const bytes = (pem: Uint8Array | string): Buffer => (typeof pem === 'string' ? Buffer.from(pem) : Buffer.from(pem.buffer, pem.byteOffset, pem.length))

/** `tls` checked (PEM that parses, a key with its certificate); throws ERR_BAD_ARGUMENT naming the problem. */
export function checkClientTls(tls: ClientTls, what = 'tls'): void {
  if (tls === null || typeof tls !== 'object' || tls.ca === undefined) throw new RaftLogError('ERR_BAD_ARGUMENT', `${what}.ca is missing: the CA certificate that signed the nodes' certificates`)
  if ((tls.cert === undefined) !== (tls.key === undefined)) throw new RaftLogError('ERR_BAD_ARGUMENT', `${what}: cert and key go together`)
  try {
    createSecureContext({ ca: bytes(tls.ca), ...(tls.cert === undefined ? {} : { cert: bytes(tls.cert), key: bytes(tls.key as Uint8Array | string) }) })
  } catch (error) {
    throw new RaftLogError('ERR_BAD_ARGUMENT', `${what} holds no usable certificates: ${(error as Error).message}`)
  }
}

/** The gRPC credentials of a client: plaintext without `tls`. */
export function clientChannelCredentials(tls: ClientTls | undefined): grpc.ChannelCredentials {
  if (tls === undefined) return grpc.credentials.createInsecure()
  return grpc.credentials.createSsl(bytes(tls.ca), tls.key === undefined ? null : bytes(tls.key), tls.cert === undefined ? null : bytes(tls.cert))
}

function readOption(file: string, option: string): Buffer {
  try {
    return readFileSync(file)
  } catch (error) {
    const code = (error as { code?: string }).code
    throw new RaftLogError('ERR_BAD_ARGUMENT', `${option} names ${file}, which ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? (error as Error).message})`}`, { file })
  }
}

/** The files of --cacert, --cert and --key, read; undefined when none is given. */
export function readClientTlsFiles(files: ClientTlsFiles): ClientTls | undefined {
  if (files.cacert === undefined && files.cert === undefined && files.key === undefined) return undefined
  if (files.cacert === undefined) throw new RaftLogError('ERR_BAD_ARGUMENT', '--cert and --key need --cacert: the CA that signed the nodes\' certificates')
  if ((files.cert === undefined) !== (files.key === undefined)) throw new RaftLogError('ERR_BAD_ARGUMENT', '--cert and --key go together')
  const tls: ClientTls = { ca: readOption(files.cacert, '--cacert') }
  if (files.cert !== undefined && files.key !== undefined) {
    tls.cert = readOption(files.cert, '--cert')
    tls.key = readOption(files.key, '--key')
  }
  checkClientTls(tls, '--cacert/--cert/--key')
  return tls
}

/**
 * What a client of `cluster` uses by default: peer_tls.ca_file to check the nodes, and
 * client_tls.cert_file and key_file when set. Undefined for a plaintext cluster.
 */
export function clientTlsOf(cluster: ClusterConfig): ClientTls | undefined {
  if (cluster.peerTls === undefined) return undefined
  const tls: ClientTls = { ca: readFileSync(cluster.peerTls.caFile) }
  const client = cluster.clientTls
  if (client?.certFile !== undefined && client.keyFile !== undefined) {
    checkReadable(client.certFile, cluster.path, 'cluster_settings.client_tls.cert_file')
    checkReadable(client.keyFile, cluster.path, 'cluster_settings.client_tls.key_file')
    tls.cert = readFileSync(client.certFile)
    tls.key = readFileSync(client.keyFile)
  }
  return tls
}
