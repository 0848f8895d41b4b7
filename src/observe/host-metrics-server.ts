// A many-group node's HTTP port for monitoring: /metrics (host-metrics.ts), /healthz (the process
// is up) and /readyz (every group held here knows a leader: its clients can be served), on the
// node's metrics_port, as metrics-server.ts serves a one-group node's.
import { createServer, type Server } from 'node:http'
import { isIP } from 'node:net'
import { RaftLogError } from '../errors.js'
import type { RaftHost } from '../host/raft-host.js'
import { HostMetrics } from './host-metrics.js'
import { catalogGroup } from '../host/group-catalog.js'

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
      else if (path === '/readyz') {
        const problem = notReady(raftHost)
        if (problem === undefined) send(200, `ok: every one of the ${raftHost.groups.length} groups held here knows a leader\n`)
        else send(503, `not ready: ${problem}\n`)
      } else send(404, 'not found: try /metrics, /healthz or /readyz\n')
    })
    const address = `${isIP(host) === 6 ? `[${host}]` : host}:${port}`
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => reject(new RaftLogError(error.code === 'EADDRINUSE' ? 'EADDRINUSE' : 'ERR_BIND', `Failed to bind metrics to ${address} - ${error.message}`, { address })))
      server.listen(port, host, () => resolve())
    })
    const bound = server.address()
    const actualPort = typeof bound === 'object' && bound !== null ? bound.port : port
    return new HostMetricsServer(server, `http://${isIP(host) === 6 ? `[${host}]` : host}:${actualPort}`)
  }

  async close(): Promise<void> {
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}

/** Why the node cannot serve its groups' clients now, if it cannot. */
function notReady(host: RaftHost): string | undefined {
  if (host.failure !== undefined) return `the node stopped: ${host.failure.message}`
  const groups = host.groups
  if (groups.length === 0) return 'it holds no group yet (the group catalog is not founded)'
  const leaderless = groups.filter((group) => host.leaderOf(group) === 0)
  if (leaderless.length === 0) return undefined
  const named = leaderless.slice(0, 5).map((group) => (group === catalogGroup ? 'the catalog' : String(group)))
  return `${leaderless.length} of the ${groups.length} groups held here know no leader (${named.join(', ')}${leaderless.length > 5 ? ', …' : ''})`
}
