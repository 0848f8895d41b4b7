// gRPC credentials from a node's TLS material (tls-files.ts).
//
// The node's one port serves the Raft service (peers) and the client service (clients), so one
// TLS server answers both. It asks every caller for a certificate and trusts the cluster CA and
// the client CA (client_tls.ca_file), when there is one. With client_cert_auth every caller
// needs a certificate from one of them, so a caller without one is refused at the handshake
// (rejectUnauthorized): it never sends a byte of a call, so it cannot make the node buffer a
// large message before it is turned away. Without client_cert_auth clients need no
// certificate, so the connection is kept and each service decides (call-identity.ts). Either
// way the Raft service takes only a certificate from the cluster CA naming a member node, and
// the client service, with client_cert_auth, only one from the client CA. A caller whose
// certificate fails TLS's checks (another CA, expired) counts as one without a certificate.
import { checkServerIdentity, type PeerCertificate } from 'node:tls'
import * as grpc from '@grpc/grpc-js'
import { nodeIdOf, nodeUri } from './node-identity.js'
import type { NodeTls } from './tls-files.js'
import { defaultConnectionLimits } from '../config/connection-limits.js'

/** Server credentials that request, verify and hand on a certificate; each service decides what it needs. */
class PerServiceServerCredentials extends grpc.ServerCredentials {
  constructor(tls: NodeTls, handshakeTimeoutMs: number) {
    const client = tls.clientAuth ?? tls.clientCa
    const ca = client === undefined ? tls.peerCa : Buffer.concat([tls.peerCa, Buffer.from('\n'), client.ca])
    super({ requestCert: true, rejectUnauthorized: tls.clientAuth !== undefined, handshakeTimeout: handshakeTimeoutMs }, { ca, cert: tls.cert, key: tls.key })
  }

  _equals(other: grpc.ServerCredentials): boolean {
    return other === this
  }
}

/** The credentials of a node's port: plaintext without TLS material. A handshake must end within `handshakeTimeoutMs`. */
export function serverCredentials(tls: NodeTls | undefined, handshakeTimeoutMs = defaultConnectionLimits.handshakeTimeoutMs): grpc.ServerCredentials {
  return tls === undefined ? grpc.ServerCredentials.createInsecure() : new PerServiceServerCredentials(tls, handshakeTimeoutMs)
}

/**
 * The credentials of a stream to peer `peerId`: this node's certificate, and the peer's checked
 * twice, as any TLS server's (the cluster CA, its address in a SAN) and as node `peerId`'s (its
 * URI SAN): a node never sends its log to a server that is not the peer it means.
 */
export function peerChannelCredentials(tls: NodeTls | undefined, peerId: number): grpc.ChannelCredentials {
  if (tls === undefined) return grpc.credentials.createInsecure()
  return grpc.credentials.createSsl(tls.peerCa, tls.key, tls.cert, {
    checkServerIdentity(host: string, certificate: PeerCertificate): Error | undefined {
      const named = nodeIdOf(certificate)
      if (named !== peerId) return new Error(`the server at ${host} is not node ${peerId}: its certificate ${named === undefined ? 'names no node' : `names node ${named}`} (expected ${nodeUri(peerId)})`)
      return checkServerIdentity(host, certificate)
    },
  })
}
