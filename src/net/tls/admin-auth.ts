// Membership and leadership calls (ChangeMembership, TransferLeadership, Join) decide who is in
// the cluster and who leads it: a stranger who can add voters that do not exist, remove members or
// move leadership again and again can stop a cluster without touching a key. So on a node with
// TLS they need a caller that TLS authenticated, even when the key-value calls do not
// (peer_tls without client_cert_auth): a certificate from the cluster CA (an operator's, or a
// node's: a joining node presents its own) or from client_tls.ca_file. Plaintext proves no one,
// so a plaintext node takes them from anyone, and warns at start when it listens beyond loopback.
import * as grpc from '@grpc/grpc-js'
import type { X509Certificate } from 'node:crypto'
import type { CallWithAuth } from './call-identity.js'
import { issuedByOneOf } from './node-identity.js'
import type { NodeTls } from './tls-files.js'

/** The client service's calls that change membership or leadership. */
export const adminMethods: readonly string[] = ['ChangeMembership', 'TransferLeadership', 'Join']

export const adminCertificateRequired =
  'Membership and leadership calls to a cluster with TLS need a client certificate signed by the cluster CA (or by client_tls.ca_file): give --cert and --key, or set client_tls.cert_file and key_file'

/** The CAs whose certificates may make membership and leadership calls. */
function adminAuthorities(tls: NodeTls): X509Certificate[] {
  return [...tls.peerAuthorities, ...(tls.clientCa?.authorities ?? [])]
}

/** `implementation` with its membership and leadership calls (`methods`) refused to callers TLS did not authenticate. */
export function requireAdminCertificate(implementation: grpc.UntypedServiceImplementation, tls: NodeTls, methods: readonly string[] = adminMethods): grpc.UntypedServiceImplementation {
  const authorities = adminAuthorities(tls)
  const guarded: grpc.UntypedServiceImplementation = { ...implementation }
  for (const name of methods) {
    const unary = implementation[name] as ((call: CallWithAuth, callback: grpc.sendUnaryData<unknown>) => void) | undefined
    if (unary === undefined) continue
    guarded[name] = (call: CallWithAuth, callback: grpc.sendUnaryData<unknown>) => {
      const certificate = call.getAuthContext()?.sslPeerCertificate
      if (certificate?.raw !== undefined && issuedByOneOf(certificate.raw, authorities)) unary(call, callback)
      else callback({ code: grpc.status.UNAUTHENTICATED, details: adminCertificateRequired })
    }
  }
  return guarded
}
