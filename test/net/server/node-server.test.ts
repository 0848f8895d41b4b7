// Three node servers in this process, on 127.0.0.1 over real gRPC: the client service as a raw
// gRPC caller sees it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as grpc from '@grpc/grpc-js'
import { createServer } from 'node:net'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadClusterConfig, type ClusterConfig } from '../../../src/net/config/cluster-config.js'
import { decodeKvResult, encodeKvCommand } from '../../../src/kv/kv-state-machine.js'
import { ClusterClient } from '../../../src/net/client/cluster-client.js'
import { maxCommandBytes, type NodeServer } from '../../../src/net/server/node-server.js'
import { startKvNodeServer } from '../../../src/kv/kv-node-server.js'
import { protocol } from '../../../src/net/protocol.js'
import { freePorts, freePort } from '../../helpers/processes.js'


type Reply = { result: Buffer; notLeader: { leaderId: number; leaderAddress: string } | null }

function call<T>(address: string, method: string, request: unknown): Promise<T> {
  const options = { 'grpc.max_send_message_length': -1, 'grpc.max_receive_message_length': -1 }
  const client = new protocol.RaftClient(address, grpc.credentials.createInsecure(), options) as unknown as Record<string, (r: unknown, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, v: T) => void) => void> & grpc.Client
  return new Promise<T>((resolve, reject) =>
    client[method]!.call(client, request, { deadline: Date.now() + 5000 }, (error, reply) => {
      client.close()
      if (error === null) resolve(reply)
      else reject(error)
    }),
  )
}

let cluster: ClusterConfig
let dir: string
const servers: NodeServer[] = []
const silent = { warn: () => {} }

beforeAll(async () => {
  // Not tempDir(): its cleanup runs after each test, and these nodes live for the whole file.
  dir = mkdtempSync(join(tmpdir(), 'raftlog-node-server-'))
  const path = join(dir, 'cluster.yaml')
  const ports = await freePorts(3)
  writeFileSync(path, `nodes:\n${ports.map((port, i) => `  - { node_id: ${i + 1}, ip_address: "127.0.0.1", port: ${port} }`).join('\n')}\ncluster_settings:\n  log_directory: "./logs"\n  log_segment_size: 1048576\n  election_timeout_range: { min: 150, max: 300 }\n  heartbeat_interval: 30\n  max_request_bytes: 16777216\n`)
  cluster = loadClusterConfig(path)
  for (const node of cluster.nodes) servers.push(await startKvNodeServer(cluster, node.nodeId, silent))
})

afterAll(async () => {
  await Promise.all(servers.map((server) => server.stop()))
  rmSync(dir, { recursive: true, force: true })
})

async function leader(): Promise<NodeServer> {
  const deadline = Date.now() + 10_000
  for (;;) {
    const found = servers.find((server) => server.node.status().role === 'leader')
    if (found !== undefined) return found
    if (Date.now() > deadline) throw new Error('no leader elected in 10 s')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

describe('the client service of a node', () => {
  it('answers a proposal on the leader with the state machine\'s result', async () => {
    const at = (await leader()).config.address
    const reply = await call<Reply>(at, 'Propose', { command: encodeKvCommand({ op: 'put', key: 'k', value: 'v1' }) })
    expect(reply.notLeader).toBeNull()
    expect(decodeKvResult(reply.result)).toEqual({ ok: true })
    const read = await call<Reply>(at, 'Read', { key: Buffer.from('k') })
    expect(decodeKvResult(read.result)).toEqual({ ok: true, value: Buffer.from('v1') })
  })

  it("answers a proposal on a follower with NOT_LEADER, the leader's id and address, and serves a read itself", async () => {
    const current = await leader()
    const follower = servers.find((server) => server !== current && server.node.status().leaderId === current.node.id)
    expect(follower).toBeDefined()
    const reply = await call<Reply>(follower!.config.address, 'Propose', { command: encodeKvCommand({ op: 'put', key: 'k', value: 'v2' }) })
    expect(reply.notLeader).toEqual({ leaderId: current.node.id, leaderAddress: current.config.address })
    const lastIndex = current.node.status().lastIndex
    const read = await call<Reply>(follower!.config.address, 'Read', { key: Buffer.from('k') })
    expect(read.notLeader).toBeNull()
    expect(decodeKvResult(read.result)).toEqual({ ok: true, value: Buffer.from('v1') })
    // No log entry per read.
    expect(current.node.status().lastIndex).toBe(lastIndex)
  })

  it('refuses a malformed command with INVALID_ARGUMENT', async () => {
    const current = await leader()
    const before = current.node.status().lastIndex
    await expect(call(current.config.address, 'Propose', { command: Buffer.from([1, 200, 0, 0, 0]) })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringMatching(/key length 200 runs past the end/) })
    expect(current.node.status().lastIndex).toBe(before)
  })

  it('refuses a Read whose key is too large for the log with INVALID_ARGUMENT', async () => {
    const current = await leader()
    const before = current.node.status().lastIndex
    await expect(call(current.config.address, 'Read', { key: Buffer.alloc(maxCommandBytes + 1, 'k') })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringMatching(/^ERR_REQUEST_TOO_LARGE: Read of \d+ bytes is larger than max_request_bytes \(16777216 bytes\)$/) })
    expect(current.node.status().lastIndex).toBe(before)
  })

  it("carries values over gRPC's default 4 MB limit both ways through ClusterClient", async () => {
    const client = new ClusterClient(cluster.nodes.map((node) => node.address))
    try {
      const value = Buffer.alloc(5 * 1024 * 1024, 'v')
      await client.propose(encodeKvCommand({ op: 'put', key: 'big', value }), 10_000)
      // Buffer.equals: a deep equality over 5 MiB of elements takes a minute.
      expect(decodeKvResult(await client.read('big', 10_000)).value?.equals(value)).toBe(true)
      // Overwriting, asking for the old value, answers with it, as large.
      const previous = decodeKvResult(await client.propose(encodeKvCommand({ op: 'put', key: 'big', value: 'small', previous: true }), 10_000))
      expect([previous.ok, previous.value?.equals(value)]).toEqual([true, true])
    } finally {
      client.close()
    }
  })

  it('reports its status', async () => {
    const current = await leader()
    const status = await call<Record<string, unknown>>(current.config.address, 'Status', {})
    const { configuration: _inMembers, ...own } = current.node.status()
    expect(status).toEqual({ ...own, kvWritesApplied: expect.any(Number), reads: expect.any(Number), diskBytes: expect.any(Number), members: expect.any(Array) })
    expect(status).toMatchObject({ id: current.node.id, role: 'leader', leaderId: current.node.id, clusterId: expect.stringMatching(/^[0-9a-f]{32}$/) })
    // The leader knows how far each member is; members are listed with their address and vote.
    expect(status.members).toEqual(
      cluster.nodes.map((n) => ({ id: n.nodeId, address: n.address, suffrage: 'voter', matchIndex: expect.any(Number), matchKnown: expect.any(Boolean) })),
    )
    expect((status.members as { id: number; matchIndex: number }[]).find((m) => m.id === current.node.id)!.matchIndex).toBe(current.node.status().lastIndex)
  })

  it('refuses to start a node that is not in the configuration, or whose port is taken', async () => {
    await expect(startKvNodeServer(cluster, 99, silent)).rejects.toThrow(`Node ID 99 not found in configuration file ${cluster.path} (ids: 1, 2, 3)`)
    const node = cluster.nodes[0]!
    await expect(startKvNodeServer(cluster, node.nodeId, silent)).rejects.toThrow(`Failed to bind to ${node.address} - address already in use`)
  })
})

describe('stopping a node server', () => {
  it('closes its port even when the node fails to stop cleanly', async () => {
    const single = join(dir, 'single.yaml')
    const port = await freePort()
    writeFileSync(single, `nodes:\n  - { node_id: 1, ip_address: "127.0.0.1", port: ${port} }\ncluster_settings:\n  log_directory: "./single"\n`)
    const server = await startKvNodeServer(loadClusterConfig(single), 1, silent)
    const stopNode = server.node.stop.bind(server.node)
    server.node.stop = async () => {
      await stopNode()
      throw new Error('No space left on device while saving the state')
    }
    await expect(server.stop()).rejects.toThrow(/No space left/)
    // The port is free again: nothing keeps the process alive.
    const probe = createServer()
    await new Promise<void>((resolve, reject) => probe.once('error', reject).listen(port, '127.0.0.1', () => resolve()))
    await new Promise<void>((resolve) => probe.close(() => resolve()))
  })

  it('ends the Calls streams clients keep open, so they do not hold its stop to the grace period', async () => {
    const single = join(dir, 'calls.yaml')
    const port = await freePort()
    writeFileSync(single, `nodes:\n  - { node_id: 1, ip_address: "127.0.0.1", port: ${port} }\ncluster_settings:\n  log_directory: "./calls"\n`)
    const server = await startKvNodeServer(loadClusterConfig(single), 1, silent)
    const client = new protocol.RaftClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & { Calls(options: grpc.CallOptions): grpc.ClientDuplexStream<unknown, { id: number; code: number }> }
    try {
      const stream = client.Calls({})
      stream.on('error', () => undefined)
      const ended = new Promise<number>((resolve) => stream.on('status', (status: grpc.StatusObject) => resolve(status.code)))
      const answered = new Promise<{ id: number; code: number }>((resolve) => stream.once('data', resolve))
      // Until the node has a leader, a read answers ERR_NO_LEADER or not_leader: any answer will do.
      stream.write({ id: 1, read: { key: Buffer.from('k') } })
      expect((await answered).id).toBe(1)
      // The client keeps the stream open (ClusterClient does for a second after its last call).
      await server.stop()
      // Ended by the node (OK), not cut when its grace period ran out.
      expect(await ended).toBe(grpc.status.OK)
    } finally {
      client.close()
    }
  })
})
