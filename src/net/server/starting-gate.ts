// A service registered on a node's port before the node has started (the port is bound early:
// peers need the transport while the node checks its cluster and replays its log). Until its
// implementation is given, every call is answered UNAVAILABLE, ERR_STARTING, which a client
// retries, where an unregistered service answers UNIMPLEMENTED: a client took that for a port
// of another kind (a many-group node's) and gave up.
import * as grpc from '@grpc/grpc-js'

type Handler = (call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>, callback?: grpc.sendUnaryData<unknown>) => void

export interface StartingGate {
  /** The implementation to register now: each method waits for `open`. */
  readonly implementation: grpc.UntypedServiceImplementation
  /** From now on every call goes to `implementation`. */
  open(implementation: grpc.UntypedServiceImplementation): void
}

/** `why`: what the node is doing, for the answer's message (`node 2 is starting: ...`). */
export function startingGate(definition: grpc.ServiceDefinition, why: string): StartingGate {
  let open: grpc.UntypedServiceImplementation | undefined
  const starting = { code: grpc.status.UNAVAILABLE, details: `ERR_STARTING: ${why}` }
  const implementation: grpc.UntypedServiceImplementation = {}
  for (const [name, method] of Object.entries(definition)) {
    // A client stream would need its callback held; a bidirectional stream (Calls) is answered as a server stream.
    if (method.requestStream && !method.responseStream) throw new Error(`startingGate: ${name} takes a stream of requests and answers once, which the gate does not hold`)
    implementation[name] = ((call, callback) => {
      const handler = open?.[name] as Handler | undefined
      if (handler !== undefined) return handler(call, callback)
      if (callback !== undefined) return callback(starting)
      ;(call as grpc.ServerWritableStream<unknown, unknown>).emit('error', starting)
    }) as Handler as grpc.UntypedHandleCall
  }
  return {
    implementation,
    open(given) {
      open = given
    },
  }
}
