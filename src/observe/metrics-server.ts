// A node's HTTP port for monitoring: /metrics (Prometheus text format), /healthz (the process is
// up) and /readyz (the node is a member of a cluster with a known leader: it can serve clients).
// It is bound before the node opens its log, so a taken port fails the start before the
// directory is locked, as the gRPC port does.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { isIP } from 'node:net'
import { RaftLogError } from '../errors.js'
import { NodeMetrics, type MetricsSource } from './node-metrics.js'

/** A node's monitoring port: /metrics, /healthz and /readyz over HTTP. */
export class MetricsServer {
  private source: MetricsSource | undefined
  private readonly metrics: NodeMetrics

  private constructor(
    private readonly server: Server,
    nodeId: number,
    /** http://host:port */
    readonly url: string,
  ) {
    this.metrics = new NodeMetrics(nodeId)
    server.on('request', (request: IncomingMessage, response: ServerResponse) => {
      this.answer(request, response).catch((error: Error) => reply(response, 500, `error: ${error.message}\n`))
    })
  }

  /** Listens on host:port; fails with the same words as the gRPC port when it cannot. */
  static async listen(host: string, port: number, nodeId: number): Promise<MetricsServer> {
    const server = createServer()
    const address = `${isIP(host) === 6 ? `[${host}]` : host}:${port}`
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => {
        const inUse = error.code === 'EADDRINUSE'
        reject(new RaftLogError(inUse ? 'EADDRINUSE' : 'ERR_BIND', `Failed to bind metrics to ${address} - ${inUse ? 'address already in use' : error.message}`, { address }))
      })
      server.listen(port, host, () => resolve())
    })
    return new MetricsServer(server, nodeId, `http://${address}`)
  }

  /** The node is running: serve its metrics and readiness. */
  attach(source: MetricsSource): void {
    this.source = source
    this.metrics.attach(source)
  }

  async close(): Promise<void> {
    this.metrics.detach()
    this.source = undefined
    // Scrapers keep connections alive: cut them, or close() would wait for them to go idle.
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  private async answer(request: IncomingMessage, response: ServerResponse): Promise<void> {
    if (request.method !== 'GET' && request.method !== 'HEAD') return reply(response, 405, 'only GET\n')
    const path = new URL(request.url ?? '/', 'http://localhost').pathname
    if (path === '/metrics') {
      const text = await this.metrics.metrics()
      return reply(response, 200, text, this.metrics.contentType)
    }
    if (path === '/healthz') return reply(response, 200, 'ok\n')
    if (path === '/readyz') {
      const problem = this.notReady()
      return problem === undefined ? reply(response, 200, `ok: leader is node ${this.source?.node.status().leaderId}\n`) : reply(response, 503, `not ready: ${problem}\n`)
    }
    reply(response, 404, 'not found: try /metrics, /healthz or /readyz\n')
  }

  /** Why the node cannot serve clients now, if it cannot. */
  private notReady(): string | undefined {
    const node = this.source?.node
    if (node === undefined) return 'starting'
    if (node.failed !== undefined) return `storage failed: ${node.failed.message}`
    const status = node.status()
    if (status.leaderId === 0) return `no known leader (term ${status.term}, ${status.role})`
    return undefined
  }
}

function reply(response: ServerResponse, status: number, body: string, contentType = 'text/plain; charset=utf-8'): void {
  if (response.headersSent) {
    response.end()
    return
  }
  response.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' })
  response.end(body)
}
