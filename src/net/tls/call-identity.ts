// Who is calling, as TLS proved it: the node id of a peer on the Raft service, and whether a
// client on the client service holds a certificate from the client CA. Only certificates that
// passed TLS's checks reach here (grpc-js gives none for a connection TLS did not authorize).
import { createHash } from 'node:crypto'
import type { PeerCertificate } from 'node:tls'
import { issuedByOneOf, nodeIdOf } from './node-identity.js'
import type { NodeTls } from './tls-files.js'

/** A server call: what grpc-js knows about its connection. */
export interface CallWithAuth {
  getAuthContext(): { sslPeerCertificate?: PeerCertificate } | null
}

/** The node id the caller's certificate names, when the cluster CA signed it; undefined otherwise. */
export function peerNodeId(call: CallWithAuth, tls: NodeTls): number | undefined {
  const certificate = call.getAuthContext()?.sslPeerCertificate
  if (certificate?.raw === undefined || !issuedByOneOf(certificate.raw, tls.peerAuthorities)) return undefined
  return nodeIdOf(certificate)
}

/** Whether the caller presented a valid certificate from the client CA. */
export function hasClientCertificate(call: CallWithAuth, clientAuth: NonNullable<NodeTls['clientAuth']>): boolean {
  const certificate = call.getAuthContext()?.sslPeerCertificate
  return certificate?.raw !== undefined && issuedByOneOf(certificate.raw, clientAuth.authorities)
}

/**
 * What a client session opened by this caller is bound to: the SHA-256 of its client certificate
 * under client_cert_auth, nothing otherwise. Not checked against the client CA again: with
 * client_cert_auth every client call passed hasClientCertificate before it got here.
 */
export function sessionIdentity(call: CallWithAuth, clientAuth: NodeTls['clientAuth']): Uint8Array {
  const raw = clientAuth === undefined ? undefined : call.getAuthContext()?.sslPeerCertificate?.raw
  return raw === undefined ? noIdentity : createHash('sha256').update(raw).digest()
}

const noIdentity = new Uint8Array(0)
