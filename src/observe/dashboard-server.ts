// The status page of a running cluster, over HTTP: the page and its script (src/observe/dashboard/),
// Chart.js from the installed package (no CDN: it works with no internet), and /api/cluster, the
// watch's view as JSON, which the page polls every second: a ClusterWatch's for one Raft group
// (index.html), a HostWatch's for a many-group cluster (groups.html). Only requests whose Host
// names this machine are answered (allowed-hosts.ts: no DNS rebinding).
import { readFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createRequire } from 'node:module'
import { isIP } from 'node:net'
import { dirname, join } from 'node:path'
import { packageRoot } from '../package-root.js'
import { RaftLogError } from '../errors.js'
import { ClusterWatch, type StatusSource } from './cluster-watch.js'
import { HostWatch, type HostLeadersSource } from './host-watch.js'
import { allowedHosts } from './allowed-hosts.js'

/** The default port of `raftlog dashboard` and of the page `raftlog cluster` serves. */
export const defaultDashboardPort = 18080

interface Asset {
  body: Buffer
  type: string
}

/** What a page polls and serves as /api/cluster. */
interface Watch {
  start(): void
  stop(): void
  view(): object
}

type Page = 'cluster' | 'groups'

/** The page's files, read once: they never change while the server runs. */
function assets(page: Page): Map<string, Asset> {
  const pageDir = join(packageRoot(import.meta.url), 'src', 'observe', 'dashboard')
  // The browser build (UMD, one file), beside the package's own entry: its exports map hides it.
  const chartDir = dirname(createRequire(import.meta.url).resolve('chart.js'))
  return new Map([
    ['/', { body: readFileSync(join(pageDir, page === 'cluster' ? 'index.html' : 'groups.html')), type: 'text/html; charset=utf-8' }],
    page === 'cluster' ? ['/dashboard.js', { body: readFileSync(join(pageDir, 'dashboard.js')), type: 'text/javascript; charset=utf-8' }] : ['/groups.js', { body: readFileSync(join(pageDir, 'groups.js')), type: 'text/javascript; charset=utf-8' }],
    ['/dashboard.css', { body: readFileSync(join(pageDir, 'dashboard.css')), type: 'text/css; charset=utf-8' }],
    ['/page.js', { body: readFileSync(join(pageDir, 'page.js')), type: 'text/javascript; charset=utf-8' }],
    ['/chart.js', { body: readFileSync(join(chartDir, 'chart.umd.min.js')), type: 'text/javascript; charset=utf-8' }],
  ])
}

/**
 * The status page over HTTP: the page itself and /api/cluster, the cluster as a ClusterWatch sees
 * it, for requests whose Host is this machine.
 */
export class DashboardServer {
  private constructor(
    private readonly server: Server,
    private readonly watch: Watch,
    /** http://host:port/ */
    readonly url: string,
  ) {}

  /** Serves the page of one Raft group's cluster on host:port (0: any free port) and starts polling `source`. */
  static async start(source: StatusSource, options: { host: string; port: number; title: string }): Promise<DashboardServer> {
    return DashboardServer.serve('cluster', new ClusterWatch(source), options)
  }

  /** Serves the page of a many-group cluster (nodes' group counts, leaders per node, leaderless groups) and starts polling `source`. */
  static async startGroups(source: HostLeadersSource, options: { host: string; port: number; title: string }): Promise<DashboardServer> {
    return DashboardServer.serve('groups', new HostWatch(source), options)
  }

  private static async serve(page: Page, watch: Watch, options: { host: string; port: number; title: string }): Promise<DashboardServer> {
    const files = assets(page)
    const hostAllowed = allowedHosts(options.host)
    const server = createServer((request, response) => {
      if (hostAllowed(request.headers.host)) answer(request, response, files, watch, options.title)
      else send(response, 403, `Host ${JSON.stringify(request.headers.host)} does not name this machine: open the status page by IP address, localhost or this machine's name\n`, 'text/plain; charset=utf-8')
    })
    const shown = isIP(options.host) === 6 ? `[${options.host}]` : options.host
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => {
        const inUse = error.code === 'EADDRINUSE'
        const address = `${shown}:${options.port}`
        reject(new RaftLogError(inUse ? 'EADDRINUSE' : 'ERR_BIND', `Failed to bind the dashboard to ${address} - ${inUse ? 'address already in use' : error.message}`, { address }))
      })
      server.listen(options.port, options.host, () => resolve())
    })
    const address = server.address()
    const port = typeof address === 'object' && address !== null ? address.port : options.port
    watch.start()
    return new DashboardServer(server, watch, `http://${shown}:${port}/`)
  }

  async close(): Promise<void> {
    this.watch.stop()
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}

function answer(request: IncomingMessage, response: ServerResponse, files: Map<string, Asset>, watch: Watch, title: string): void {
  const path = new URL(request.url ?? '/', 'http://localhost').pathname
  if (request.method !== 'GET' && request.method !== 'HEAD') return send(response, 405, 'only GET\n', 'text/plain; charset=utf-8')
  if (path === '/api/cluster') return send(response, 200, JSON.stringify({ title, ...watch.view() }), 'application/json; charset=utf-8')
  const file = files.get(path)
  if (file === undefined) return send(response, 404, 'not found\n', 'text/plain; charset=utf-8')
  send(response, 200, file.body, file.type)
}

function send(response: ServerResponse, status: number, body: string | Buffer, type: string): void {
  response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' })
  response.end(body)
}
