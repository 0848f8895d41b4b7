// The lost update that sessions prevent, on three real node servers over gRPC: client A's put
// reaches the leader but its answer is lost; client B puts and reads its own value; A's client
// sends its put again. Without sessions A's retry is applied a second time and B's write is lost
// (reads go v1, v2, v1); with them the retry is answered from the session table.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as grpc from '@grpc/grpc-js'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadClusterConfig, type ClusterConfig } from '../../src/net/config/cluster-config.js'
import { decodeKvResult, encodeKvCommand } from '../../src/kv/kv-state-machine.js'
import { ClusterClient } from '../../src/net/client/cluster-client.js'
import type { NodeServer } from '../../src/net/server/node-server.js'
import { startKvNodeServer } from '../../src/kv/kv-node-server.js'
import { protocol } from '../../src/net/protocol.js'
import { decodeEnvelope } from '../../src/session/session-envelope.js'
import { freePort } from '../helpers/processes.js'

let cluster: ClusterConfig
let dir: string
const servers: NodeServer[] = []
const closers: (() => void)[] = []

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'raftlog-sessions-'))
  const path = join(dir, 'cluster.yaml')
  const ports = [await freePort(), await freePort(), await freePort()]
  writeFileSync(path, `nodes:\n${ports.map((port, i) => `  - { node_id: ${i + 1}, ip_address: "127.0.0.1", port: ${port} }`).join('\n')}\ncluster_settings:\n  log_directory: "./logs"\n  log_segment_size: 1048576\n  election_timeout_range: { min: 150, max: 300 }\n  heartbeat_interval: 30\n`)
  cluster = loadClusterConfig(path)
  for (const node of cluster.nodes) servers.push(await startKvNodeServer(cluster, node.nodeId, { warn: () => {} }))
})

afterAll(async () => {
  for (const close of closers) close()
  await Promise.all(servers.map((server) => server.stop()))
  rmSync(dir, { recursive: true, force: true })
})

/**
 * A proxy in front of the leader that passes every call on, but keeps the answer of the first
 * put of `value` until `release()`, and then drops it: the client times out on it.
 */
async function lossyProxy(leaderAddress: string, value: string): Promise<{ address: string; forwarded: Promise<void>; release: () => void }> {
  const upstream = new protocol.RaftClient(leaderAddress, grpc.credentials.createInsecure()) as unknown as grpc.Client & Record<string, (request: unknown, callback: (error: grpc.ServiceError | null, reply: unknown) => void) => void>
  let held = false
  let markForwarded: () => void = () => {}
  const forwarded = new Promise<void>((resolve) => (markForwarded = resolve))
  let release: () => void = () => {}
  const released = new Promise<void>((resolve) => (release = resolve))
  const server = new grpc.Server()
  const pass = (method: string) => (call: grpc.ServerUnaryCall<Record<string, unknown>, unknown>, callback: grpc.sendUnaryData<unknown>) => {
    const envelope = method === 'Propose' ? decodeEnvelope(new Uint8Array(call.request.command as Buffer)) : undefined
    const isThePut = envelope?.kind === 'command' && Buffer.from(envelope.payload).includes(Buffer.from(value)) && !held
    if (isThePut) held = true
    ;(upstream[method] as (request: unknown, callback: (error: grpc.ServiceError | null, reply: unknown) => void) => void).call(upstream, call.request, (error, reply) => {
      if (!isThePut) return callback(error, reply)
      markForwarded()
      // The answer is lost: the client hears nothing and times out.
      void released
    })
  }
  server.addService(protocol.RaftClient.service, { Propose: pass('Propose'), Read: pass('Read'), Status: pass('Status') })
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error === null ? resolve(bound) : reject(error))))
  closers.push(() => {
    server.forceShutdown()
    upstream.close()
  })
  return { address: `127.0.0.1:${port}`, forwarded, release }
}

async function leaderAddress(): Promise<string> {
  for (;;) {
    const leader = servers.find((server) => server.node.status().role === 'leader')
    if (leader !== undefined) return leader.config.address
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

describe('client sessions', () => {
  it("A's put times out, B puts and reads its value, A's client sends the put again: B's value stays, A's put was applied once", async () => {
    const leader = await leaderAddress()
    const proxy = await lossyProxy(leader, 'from-A')
    const a = new ClusterClient([proxy.address, ...cluster.nodes.map((node) => node.address)])
    const b = new ClusterClient(cluster.nodes.map((node) => node.address))
    try {
      // A's put reaches the leader through the proxy, and is applied there; its answer is lost.
      const put = a.propose(encodeKvCommand({ op: 'put', key: 'x', value: 'from-A' }), 20_000)
      await proxy.forwarded
      await expect.poll(async () => decodeKvResult(await b.read('x', 5000)).value?.toString(), { timeout: 5000 }).toBe('from-A')
      // B writes after it, and reads its own write.
      expect(decodeKvResult(await b.propose(encodeKvCommand({ op: 'put', key: 'x', value: 'from-B' }), 5000))).toEqual({ ok: true })
      expect(decodeKvResult(await b.read('x', 5000))).toEqual({ ok: true, value: Buffer.from('from-B') })
      // A's client times out on the proxy and sends its put again, to the leader: answered, not applied.
      expect(decodeKvResult(await put)).toEqual({ ok: true })
      proxy.release()
      for (let i = 0; i < 3; i++) expect(decodeKvResult(await b.read('x', 5000))).toEqual({ ok: true, value: Buffer.from('from-B') })
    } finally {
      a.close()
      b.close()
    }
  })
})
