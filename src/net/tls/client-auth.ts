// client_cert_auth: the client service answers only callers that present a certificate from the
// client CA (etcd's --client-cert-auth). Every method is wrapped; a caller without one gets
// UNAUTHENTICATED and the method never runs.
import * as grpc from '@grpc/grpc-js'
import { hasClientCertificate, type CallWithAuth } from './call-identity.js'
import type { NodeTls } from './tls-files.js'

export const clientCertificateRequired = 'This cluster requires a client certificate signed by its client CA (client_cert_auth): give --cacert, --cert and --key'

/** `implementation` with every method (unary, or a server stream) refused to callers without a client certificate. */
export function requireClientCertificate(implementation: grpc.UntypedServiceImplementation, clientAuth: NonNullable<NodeTls['clientAuth']>): grpc.UntypedServiceImplementation {
  const guarded: grpc.UntypedServiceImplementation = {}
  for (const [name, handler] of Object.entries(implementation)) {
    const unary = handler as (call: CallWithAuth, callback: grpc.sendUnaryData<unknown>) => void
    guarded[name] = (call: CallWithAuth, callback?: grpc.sendUnaryData<unknown>) => {
      if (hasClientCertificate(call, clientAuth)) unary(call, callback as grpc.sendUnaryData<unknown>)
      // A server stream (SaveSnapshot) has no callback: its error ends the stream.
      else if (callback === undefined) (call as unknown as NodeJS.EventEmitter).emit('error', { code: grpc.status.UNAUTHENTICATED, details: clientCertificateRequired })
      else callback({ code: grpc.status.UNAUTHENTICATED, details: clientCertificateRequired })
    }
  }
  return guarded
}
