// A node's port. grpc-js's own bindAsync has no connection limit, so the node listens with a
// net.Server of its own, whose maxConnections closes connections beyond the limit as they arrive,
// and hands every connection it keeps to the gRPC server (grpc-js's connection injector), which
// does TLS (with its handshake timeout), HTTP/2, the idle timeout, keepalive and the calls.
//
// One gap is closed here: when grpc-js closes an idle connection it only half-closes the socket
// and waits for the other side to close its half, which a client that never reads never does,
// so the connection stayed, counted against the limit, for good. So a connection from which
// nothing was read for keepaliveIntervalMs + keepaliveTimeoutMs is destroyed: a live client has
// answered the node's keepalive ping within that time, whatever it is doing.
import { createServer, type Server, type Socket } from 'node:net'
import * as grpc from '@grpc/grpc-js'
import { RaftLogError } from '../../errors.js'
import type { ConnectionLimits } from '../config/connection-limits.js'

/** Shortest time between two warnings that connections were refused at the limit (ms). */
export const refusedConnectionsLogIntervalMs = 10_000

export interface NodeListener {
  /** Connections closed on arrival because maxConnections were open. */
  readonly refusedConnections: number
  /** Connections open now. */
  openConnections(): Promise<number>
  /** Stops taking connections and destroys those still open: call it after the gRPC server's shutdown, which ends calls in progress. */
  close(): Promise<void>
}

export interface ListenOptions {
  host: string
  port: number
  limits: ConnectionLimits
  /** Where the node says that connections were refused (at most once per refusedConnectionsLogIntervalMs). */
  warn?: (message: string) => void
}

/** Listens on host:port and serves `server` there with `credentials`; EADDRINUSE or ERR_BIND naming the address. */
export async function listenForNode(server: grpc.Server, credentials: grpc.ServerCredentials, options: ListenOptions): Promise<NodeListener> {
  const injector = server.createConnectionInjector(credentials)
  const listener = createServer({ noDelay: true }, (socket: Socket) => injector.injectConnection(socket))
  listener.maxConnections = options.limits.maxConnections
  const refused = countRefusals(listener, options)
  const endConnections = destroySilentConnections(listener, options.limits.keepaliveIntervalMs + options.limits.keepaliveTimeoutMs)
  try {
    await bind(listener, options.host, options.port, options.warn)
  } catch (error) {
    endConnections()
    throw error
  }
  return {
    get refusedConnections() {
      return refused.count
    },
    openConnections: () => new Promise((resolve, reject) => listener.getConnections((error, count) => (error === null ? resolve(count) : reject(error)))),
    close: () =>
      new Promise<void>((resolve) => {
        injector.destroy()
        listener.close(() => resolve())
        endConnections()
      }),
  }
}

/** Counts the connections refused at the limit and says so now and then, with how many. */
function countRefusals(listener: Server, options: ListenOptions): { count: number } {
  const refused = { count: 0 }
  let lastWarnedAt = 0
  let unreported = 0
  listener.on('drop', () => {
    refused.count++
    unreported++
    const now = Date.now()
    if (now - lastWarnedAt < refusedConnectionsLogIntervalMs) return
    options.warn?.(`refused ${unreported} connection${unreported === 1 ? '' : 's'} to ${options.host}:${options.port}: ${options.limits.maxConnections} were open (cluster_settings.connection_limits.max_connections)`)
    lastWarnedAt = now
    unreported = 0
  })
  return refused
}

/**
 * Destroys every connection that sent nothing for `silenceMs`. Returns what ends the sweeps and
 * destroys the connections still open: those of clients that never closed their half.
 */
function destroySilentConnections(listener: Server, silenceMs: number): () => void {
  // The socket's byte count, not its own timeout: under TLS the socket's reads happen in TLS's
  // native code, which its timeout never sees.
  const lastRead = new Map<Socket, { bytes: number; at: number }>()
  listener.on('connection', (socket: Socket) => {
    lastRead.set(socket, { bytes: 0, at: Date.now() })
    socket.once('close', () => lastRead.delete(socket))
  })
  const sweep = setInterval(() => {
    const now = Date.now()
    for (const [socket, last] of lastRead) {
      if (socket.bytesRead !== last.bytes) lastRead.set(socket, { bytes: socket.bytesRead, at: now })
      else if (now - last.at > silenceMs) socket.destroy()
    }
  }, Math.max(50, Math.min(1000, silenceMs / 4)))
  sweep.unref()
  return () => {
    clearInterval(sweep)
    for (const socket of lastRead.keys()) socket.destroy()
  }
}

/**
 * Listens on host:port. Once listening, an error (a failed accept: out of file descriptors) is
 * reported and the port goes on serving; an 'error' event with no listener would end the process.
 */
function bind(listener: Server, host: string, port: number, warn: ((message: string) => void) | undefined): Promise<void> {
  const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
  return new Promise((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException): void => {
      const inUse = error.code === 'EADDRINUSE'
      reject(new RaftLogError(inUse ? 'EADDRINUSE' : 'ERR_BIND', `Failed to bind to ${address} - ${inUse ? 'address already in use' : error.message}`, { address }))
    }
    listener.once('error', failed)
    listener.listen({ host, port }, () => {
      listener.off('error', failed)
      listener.on('error', (error: Error) => warn?.(`${address}: ${error.message}`))
      resolve()
    })
  })
}
