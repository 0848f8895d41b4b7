// Elections under load: a 3-process raftlog cluster with its default settings, put through what
// moved leadership on this 2-core machine before (issue 20): puts of the largest command the
// cluster takes, a storm of new client connections (plaintext, then TLS), and thousands of calls
// multiplexed on a few connections. Leadership must not move: every change of leader or term seen
// while a phase runs is counted. A soak, not a unit test: figures of a shared machine vary.
// Run: npm run bench:elections [-- --puts N] [-- --clients N] [-- --streams N] [-- --tls-only | --plaintext-only]
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { benchArgs, wholeOption } from './bench-args.js'
import * as grpc from '@grpc/grpc-js'
import { parentPipeVariable } from '../src/cli/parent-pipe.js'
import { createCertificateSet } from '../src/cli/certs/certificate-set.js'
import { ClusterClient } from '../src/net/client/cluster-client.js'
import { clientChannelCredentials, type ClientTls } from '../src/net/tls/client-tls.js'
import { defaultClusterSettings } from '../src/net/config/cluster-config.js'
import { encodeKvCommand } from '../src/kv/kv-state-machine.js'
import { protocol } from '../src/net/protocol.js'
import { packageRoot } from '../src/package-root.js'
import { freePorts } from './cluster/free-port.js'
import { ServerProcesses } from './cluster/server-processes.js'

interface PhaseResult {
  phase: string
  seconds: number
  /** Changes of leader or term seen while the phase ran (0 is the target). */
  leadershipChanges: number
  terms: string
  detail: string
}

/** Polls every node's status and counts each change of (leader, term) after the first. */
class LeadershipWatch {
  private last: string | undefined
  private timer: NodeJS.Timeout | undefined
  changes = 0
  seen: string[] = []

  constructor(private readonly client: ClusterClient) {}

  start(): void {
    this.timer = setInterval(() => {
      this.client.statuses(400).then(
        (statuses) => {
          const leader = statuses.filter((s) => s.reachable && s.role === 'leader').sort((a, b) => (b.term ?? 0) - (a.term ?? 0))[0]
          if (leader === undefined) return
          const now = `node ${leader.id} in term ${leader.term}`
          if (now !== this.last) {
            if (this.last !== undefined) this.changes++
            this.last = now
            this.seen.push(now)
          }
        },
        () => {},
      )
    }, 100)
  }

  stop(): void {
    clearInterval(this.timer)
  }
}

async function startCluster(servers: ServerProcesses, dir: string, tls: boolean): Promise<{ endpoints: string[]; clientTls: ClientTls | undefined }> {
  mkdirSync(dir, { recursive: true })
  const ports = await freePorts(3)
  let settings = ''
  let clientTls: ClientTls | undefined
  if (tls) {
    createCertificateSet({ dir: join(dir, 'certs'), nodes: [1, 2, 3], days: 2 })
    settings =
      '  peer_tls: { ca_file: "certs/ca.crt", cert_file: "certs/node-{node_id}.crt", key_file: "certs/node-{node_id}.key" }\n' +
      '  client_tls: { ca_file: "certs/ca.crt", cert_file: "certs/client.crt", key_file: "certs/client.key", client_cert_auth: true }\n'
    clientTls = { ca: readFileSync(join(dir, 'certs', 'ca.crt')), cert: readFileSync(join(dir, 'certs', 'client.crt')), key: readFileSync(join(dir, 'certs', 'client.key')) }
  }
  const config = join(dir, 'cluster.yaml')
  writeFileSync(config, `nodes:\n${ports.map((port, i) => `  - { node_id: ${i + 1}, ip_address: "127.0.0.1", port: ${port} }`).join('\n')}\ncluster_settings:\n  log_directory: "./logs"\n${settings}`)
  const cli = join(packageRoot(import.meta.url), 'dist', 'cli', 'main.js')
  for (const id of [1, 2, 3]) {
    servers.start(`raftlog node ${id}`, process.execPath, [cli, 'node', '--node-id', String(id), '--config', config], join(dir, `node_${id}.log`), {
      env: { ...process.env, [parentPipeVariable]: '1' },
      stdinPipe: true,
    })
  }
  return { endpoints: ports.map((port) => `127.0.0.1:${port}`), clientTls }
}

/** Runs `work` with a leadership watch around it (after a quiet second to see a stable leader). */
async function phase(name: string, client: ClusterClient, work: () => Promise<string>): Promise<PhaseResult> {
  const watch = new LeadershipWatch(client)
  watch.start()
  await new Promise((resolve) => setTimeout(resolve, 1000))
  const before = watch.changes
  const started = performance.now()
  const detail = await work()
  const seconds = (performance.now() - started) / 1000
  // A leader lost at the end of the phase shows up within an election timeout.
  await new Promise((resolve) => setTimeout(resolve, defaultClusterSettings.election_timeout_range.max * 2))
  watch.stop()
  return { phase: name, seconds, leadershipChanges: watch.changes - before, terms: watch.seen.join(' → '), detail }
}

type RaftClientStub = grpc.Client & { Status(request: object, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null) => void): void }

/** `clients` new connections at once, each asking one node for its status, then closed. */
async function connectStorm(endpoints: string[], clients: number, tls: ClientTls | undefined): Promise<string> {
  let answered = 0
  let refused = 0
  const reasons = new Map<string, number>()
  const credentials = clientChannelCredentials(tls)
  await Promise.all(
    Array.from({ length: clients }, (_, i) => {
      // A channel of its own each: a TCP connection (and a TLS handshake) each.
      const stub = new protocol.RaftClient(endpoints[i % endpoints.length] as string, credentials, { 'grpc.use_local_subchannel_pool': 1 }) as unknown as RaftClientStub
      return new Promise<void>((resolve) => {
        stub.Status({}, { deadline: Date.now() + 20_000 }, (error) => {
          if (error === null) answered++
          else {
            refused++
            const reason = error.details.slice(0, 80)
            reasons.set(reason, (reasons.get(reason) ?? 0) + 1)
          }
          stub.close()
          resolve()
        })
      })
    }),
  )
  const why = [...reasons].sort((x, y) => y[1] - x[1]).slice(0, 2).map(([reason, count]) => `${count}× ${reason}`)
  return `${answered} answered, ${refused} refused or timed out${why.length === 0 ? '' : ` (${why.join('; ')})`}`
}

/** `streams` calls at once over `connections` connections. */
async function streamStorm(endpoints: string[], connections: number, streams: number, tls: ClientTls | undefined): Promise<string> {
  const credentials = clientChannelCredentials(tls)
  const stubs = Array.from({ length: connections }, (_, i) => new protocol.RaftClient(endpoints[i % endpoints.length] as string, credentials, { 'grpc.use_local_subchannel_pool': 1 }) as unknown as RaftClientStub)
  let answered = 0
  let failed = 0
  await Promise.all(
    Array.from(
      { length: streams },
      (_, i) =>
        new Promise<void>((resolve) =>
          (stubs[i % connections] as RaftClientStub).Status({}, { deadline: Date.now() + 30_000 }, (error) => {
            if (error === null) answered++
            else failed++
            resolve()
          }),
        ),
    ),
  )
  for (const stub of stubs) stub.close()
  return `${answered} answered, ${failed} refused or timed out`
}

async function soak(tls: boolean, options: { puts: number; clients: number; streams: number }): Promise<PhaseResult[]> {
  const servers = new ServerProcesses()
  const dir = mkdtempSync(join(tmpdir(), `raftlog-elections-${tls ? 'tls' : 'plain'}-`))
  try {
    const { endpoints, clientTls } = await startCluster(servers, dir, tls)
    const client = new ClusterClient(endpoints, [1, 2, 3], clientTls === undefined ? {} : { tls: clientTls })
    await client.propose(encodeKvCommand({ op: 'put', key: 'ready', value: 'x' }), 30_000)
    const results: PhaseResult[] = []
    const label = tls ? 'TLS' : 'plaintext'
    if (options.puts > 0) {
      // The largest put the default max_request_bytes lets through: the value fills it but for the
      // envelope, session and key (a few hundred bytes at most).
      const value = Buffer.alloc(defaultClusterSettings.max_request_bytes - 512, 0x61)
      results.push(
        await phase(`${label}: ${options.puts} puts of ${(value.length / 1024 / 1024).toFixed(2)} MiB`, client, async () => {
          for (let i = 0; i < options.puts; i++) await client.propose(encodeKvCommand({ op: 'put', key: `big-${i}`, value }), 60_000)
          return `${options.puts} acknowledged`
        }),
      )
    }
    if (options.clients > 0) results.push(await phase(`${label}: ${options.clients} new connections at once`, client, () => connectStorm(endpoints, options.clients, clientTls)))
    if (options.streams > 0) results.push(await phase(`${label}: ${options.streams} calls over 20 connections`, client, () => streamStorm(endpoints, 20, options.streams, clientTls)))
    servers.assertAlive()
    client.close()
    return results
  } finally {
    await servers.stopAll()
    rmSync(dir, { recursive: true, force: true })
  }
}

const usage = `Usage: npm run bench:elections [-- --puts N] [-- --clients N] [-- --streams N] [-- --tls-only | --plaintext-only]

Elections under load: a 3-process raftlog cluster with its default settings, put through large
puts, a storm of new client connections and thousands of multiplexed calls. Counts every change
of leader or term seen while a phase runs: leadership must not move.

  --puts N           puts of the largest command the cluster takes (default 100)
  --clients N        new client connections in the storm (default 2,000)
  --streams N        calls multiplexed on a few connections (default 10,000)
  --tls-only         only the TLS phases
  --plaintext-only   only the plaintext phases`

async function main(): Promise<void> {
  const values = benchArgs(usage, { puts: { type: 'string' }, clients: { type: 'string' }, streams: { type: 'string' }, 'tls-only': { type: 'boolean' }, 'plaintext-only': { type: 'boolean' } })
  const options = {
    puts: wholeOption(usage, 'puts', values.puts, 100),
    clients: wholeOption(usage, 'clients', values.clients, 2000),
    streams: wholeOption(usage, 'streams', values.streams, 10_000),
  }
  const { election_timeout_range: election, heartbeat_interval: heartbeat } = defaultClusterSettings
  console.log(`Elections under load: 3 raftlog node processes, default settings (election timeout ${election.min}-${election.max} ms, heartbeat ${heartbeat} ms, max_request_bytes ${defaultClusterSettings.max_request_bytes})`)
  const results: PhaseResult[] = []
  if (values['tls-only'] !== true) results.push(...(await soak(false, options)))
  if (values['plaintext-only'] !== true) results.push(...(await soak(true, { ...options, puts: 0 })))
  console.log('\n| phase | seconds | leadership changes | detail |\n| --- | ---: | ---: | --- |')
  for (const result of results) console.log(`| ${result.phase} | ${result.seconds.toFixed(1)} | ${result.leadershipChanges} | ${result.detail}; ${result.terms} |`)
  const moved = results.filter((result) => result.leadershipChanges > 0)
  console.log(moved.length === 0 ? '\nLeadership never moved.' : `\nLeadership moved in ${moved.length} of ${results.length} phases.`)
  process.exitCode = moved.length === 0 ? 0 : 1
}

await main()
