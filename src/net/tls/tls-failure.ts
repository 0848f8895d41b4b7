// Why a client's TLS connection to a node failed, in a user's words. grpc-js reports a failed
// connection as "No connection established" with OpenSSL's or Node's text behind it; a wrong
// --cacert and a missing client certificate then looked like a cluster that is not running.
import { RaftLogError } from '../../errors.js'
import { clientCertificateRequired } from './client-auth.js'

/** What the client offered: TLS at all, and a certificate of its own. */
export interface ClientTlsUse {
  tls: boolean
  certificate: boolean
}

/** Node's and OpenSSL's words for a server certificate the client cannot verify. */
const untrustedServer = /self[- ]signed certificate|unable to verify|unable to get (local )?issuer|certificate has expired|certificate is not yet valid|does not match certificate's altnames|Hostname\/IP does not match|CERT_|UNABLE_TO_/i
/** The server's alert when a client without a certificate meets client_cert_auth. */
const certificateRequired = /alert certificate required/i
/** What a TLS client hears from a plaintext server. */
const plaintextServer = /wrong version number|packet length too long|http\/1\.1/i

/** The error for a status that failed with `error` at `address`, when TLS explains it. */
export function tlsFailure(address: string, error: string): RaftLogError | undefined {
  // grpc's text, or the words call-failure.ts already put around it: only TLS's own reason is kept.
  const reason = (error.split('Last error: ')[1] ?? error)
    .replace(/^no connection could be made: /, '')
    .replace(/^Error: /, '')
    .replace(/\s*\(\d{4}-\d\d-\d\dT[^)]*\)\s*$/, '')
    .trim()
  if (untrustedServer.test(error)) {
    return new RaftLogError('ERR_TLS_UNTRUSTED', `the node at ${address} presented a certificate this client does not trust (${reason}): --cacert (or peer_tls.ca_file) must be the CA that signed the nodes' certificates`, { address })
  }
  if (certificateRequired.test(error)) return new RaftLogError('ERR_UNAUTHENTICATED', `${address} refused the client: ${clientCertificateRequired}`, { address })
  return undefined
}

/** A hint for a connection that failed for a reason TLS may explain; '' when none applies. */
export function tlsHint(errors: string[], client: ClientTlsUse): string {
  const failed = errors.filter((error) => !error.includes('ECONNREFUSED'))
  if (failed.length === 0) return ''
  if (client.tls && failed.some((error) => plaintextServer.test(error))) return ' (the nodes serve plaintext and this client speaks TLS: leave out --cacert, or check the peer_tls settings)'
  if (client.certificate) return ' (the nodes closed the connection during the TLS handshake: they may not trust this client\'s certificate, which must be signed by the cluster\'s client CA, client_tls.ca_file)'
  return ' (a node that serves TLS takes no plaintext client, and the other way round: check --cacert and the peer_tls settings)'
}
