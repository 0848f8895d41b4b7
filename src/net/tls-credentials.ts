// gRPC credentials from a node's TLS material (tls-files.ts).
//
// The node's one port serves the Raft service (peers) and the client service (clients), so one
// TLS server answers both. It asks every caller for a certificate and trusts the cluster CA and,
// with client_cert_auth, the client CA; but it does not close the connection of a caller without
// one (rejectUnauthorized: false): each service decides (call-identity.ts). The Raft service
// takes only a certificate from the cluster CA naming a member node; the client service, with
// client_cert_auth, only one from the client CA. A caller whose certificate fails TLS's checks
// (another CA, expired) counts as one without a certificate.
import { checkServerIdentity, type PeerCertificate } from 'node:tls'
import * as grpc from '@grpc/grpc-js'
import { nodeIdOf, nodeUri } from './node-identity.js'
import type { NodeTls } from './tls-files.js'

/** Server credentials that request, verify and hand on a certificate, and leave the decision to each service. */
class PerServiceServerCredentials extends grpc.ServerCredentials {
  constructor(tls: NodeTls) {
    const ca = tls.clientAuth === undefined ? tls.peerCa : Buffer.concat([tls.peerCa, Buffer.from('\n'), tls.clientAuth.ca])
    super({ requestCert: true, rejectUnauthorized: false }, { ca, cert: tls.cert, key: tls.key })
  }

  _equals(other: grpc.ServerCredentials): boolean {
    return other === this
  }
}

/** The credentials of a node's port: plaintext without TLS material. */
export function serverCredentials(tls: NodeTls | undefined): grpc.ServerCredentials {
  return tls === undefined ? grpc.ServerCredentials.createInsecure() : new PerServiceServerCredentials(tls)
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
