// Three node servers in this process (startKvNodeServer, real gRPC on free ports, real disks), for
// tests that play a stranger or a rogue member writing to a node's port: raw Raft batches sent as
// any gRPC client can, and what each node logged.
import * as grpc from '@grpc/grpc-js'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadClusterConfig, type ClusterConfig } from '../../src/net/config/cluster-config.js'
import type { NodeServer } from '../../src/net/server/node-server.js'
import { startKvNodeServer } from '../../src/kv/kv-node-server.js'
import { protocol } from '../../src/net/protocol.js'
import { clientChannelCredentials, type ClientTls } from '../../src/net/tls/client-tls.js'
import { freePorts } from './processes.js'
import { makeCertificates, tlsSettings } from './tls.js'

export interface Servers {
  dir: string
  certs?: string
  servers: NodeServer[]
  config: ClusterConfig
  /** Every warning each node logged, by node id. */
  warnings: Map<number, string[]>
}

/** Three nodes; `secure`: peer and client TLS with client_cert_auth (without it when `clientCertAuth` is false); `settings`: extra cluster_settings lines. */
export async function startServers(secure: boolean, settings: Record<string, string | number> = {}, options: { clientCertAuth?: boolean } = {}): Promise<Servers> {
  const dir = mkdtempSync(join(tmpdir(), 'raftlog-servers-'))
  const certs = secure ? makeCertificates(dir, [1, 2, 3]) : undefined
  const path = join(dir, 'cluster.yaml')
  const ports = await freePorts(3)
  const all = { ...(secure ? tlsSettings({ clientCertAuth: options.clientCertAuth ?? true }) : {}), ...settings }
  const lines = Object.entries(all).map(([key, value]) => `  ${key}: ${value}\n`).join('')
  writeFileSync(path, `nodes:\n${ports.map((port, i) => `  - { node_id: ${i + 1}, ip_address: "127.0.0.1", port: ${port} }`).join('\n')}\ncluster_settings:\n  log_directory: "./logs"\n  log_segment_size: 1048576\n  election_timeout_range: { min: 300, max: 600 }\n  heartbeat_interval: 50\n${lines}`)
  const config = loadClusterConfig(path)
  const warnings = new Map<number, string[]>()
  const servers: NodeServer[] = []
  for (const node of config.nodes) {
    const logged: string[] = []
    warnings.set(node.nodeId, logged)
    servers.push(await startKvNodeServer(config, node.nodeId, { warn: (message) => logged.push(message) }))
  }
  return { dir, ...(certs === undefined ? {} : { certs }), servers, warnings, config }
}

export async function stopServers(cluster: Servers | undefined): Promise<void> {
  if (cluster === undefined) return
  await Promise.all(cluster.servers.map((server) => server.stop()))
  rmSync(cluster.dir, { recursive: true, force: true })
}

/** The leader and a follower that knows it and holds its entries. */
export async function settled(cluster: Servers): Promise<{ leader: NodeServer; follower: NodeServer }> {
  const deadline = Date.now() + 10_000
  for (;;) {
    const leader = cluster.servers.find((server) => server.node.status().role === 'leader')
    const done = leader !== undefined && leader.node.status().commitIndex === leader.node.status().lastIndex
    const follower = cluster.servers.find((server) => done && server !== leader && server.node.status().leaderId === leader!.node.id && server.node.status().commitIndex === leader!.node.status().commitIndex)
    if (leader !== undefined && follower !== undefined) return { leader, follower }
    if (Date.now() > deadline) throw new Error('no settled leader in 10 s')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Writes `batches` on one Raft stream to `address`, as any gRPC client can; resolves with the stream's end (its error, if any). */
export function sendRaw(address: string, batches: Record<string, unknown>[], tls?: ClientTls): Promise<grpc.ServiceError | null> {
  const client = new protocol.RaftTransport(address, clientChannelCredentials(tls), { 'grpc.max_send_message_length': -1 }) as unknown as grpc.Client & {
    Stream(callback: (error: grpc.ServiceError | null) => void): grpc.ClientWritableStream<unknown>
  }
  return new Promise((resolve) => {
    const call = client.Stream((error) => {
      client.close()
      resolve(error)
    })
    call.on('error', () => {})
    for (const batch of batches) call.write(batch)
    call.end()
  })
}

export const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
