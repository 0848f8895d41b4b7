// Stops a gRPC server at once: no new connections, and every open one closed. grpc-js 1.14's
// forceShutdown() closes the connections it lists for channelz; with channelz off (it costs
// every call) it lists none, and a "stopped" many-group host went on answering every client and
// peer already connected to it. Its own record of each listener's connections (a private field)
// is closed here too. (A one-group node's listener destroys its sockets itself: node-listener.ts.)
import type * as grpc from '@grpc/grpc-js'
import type { Http2Session } from 'node:http2'

type Listeners = Map<unknown, { sessions?: Set<Http2Session> }>

export function shutDownNow(server: grpc.Server): void {
  const listeners = (server as unknown as { http2Servers?: Listeners }).http2Servers
  const sessions = listeners instanceof Map ? [...listeners.values()].flatMap((listener) => [...(listener.sessions ?? [])]) : []
  server.forceShutdown()
  for (const session of sessions) if (!session.destroyed) session.destroy()
}
