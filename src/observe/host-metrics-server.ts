// A many-group node's HTTP port for monitoring: /metrics (host-metrics.ts) and /healthz, on the
// node's metrics_port, as metrics-server.ts serves a one-group node's.
import { createServer, type Server } from 'node:http'
import { isIP } from 'node:net'
import { RaftLogError } from '../errors.js'
import type { RaftHost } from '../host/raft-host.js'
import { HostMetrics } from './host-metrics.js'

export class HostMetricsServer {
  private constructor(
    private readonly server: Server,
    /** http://host:port */
    readonly url: string,
  ) {}

  static async listen(host: string, port: number, raftHost: RaftHost): Promise<HostMetricsServer> {
    const metrics = new HostMetrics(raftHost)
    const server = createServer((request, response) => {
      const path = new URL(request.url ?? '/', 'http://localhost').pathname
      const send = (status: number, body: string, type = 'text/plain; charset=utf-8'): void => {
        response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' })
        response.end(body)
      }
      if (path === '/metrics') metrics.metrics().then((text) => send(200, text, metrics.contentType), (error: Error) => send(500, `error: ${error.message}\n`))
      else if (path === '/healthz') send(200, 'ok\n')
      else send(404, 'not found: try /metrics or /healthz\n')
    })
    const address = `${isIP(host) === 6 ? `[${host}]` : host}:${port}`
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => reject(new RaftLogError(error.code === 'EADDRINUSE' ? 'EADDRINUSE' : 'ERR_BIND', `Failed to bind metrics to ${address} - ${error.message}`, { address })))
      server.listen(port, host, () => resolve())
    })
    return new HostMetricsServer(server, `http://${address}`)
  }

  async close(): Promise<void> {
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}
