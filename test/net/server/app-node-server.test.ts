// startNodeServer with the application's own state machine, commands and reads (what
// `raftlog/net` offers): three servers in this process over real gRPC, and a ClusterClient.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadClusterConfig, type ClusterConfig } from '../../../src/net/config/cluster-config.js'
import { ClusterClient } from '../../../src/net/client/cluster-client.js'
import { startNodeServer, type NodeServer } from '../../../src/net/server/node-server.js'
import type { LogEntry } from '../../../src/storage/log-entry.js'
import { freePorts, freePort } from '../../helpers/processes.js'

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString()
const bytes = (value: string): Uint8Array => Buffer.from(value)

/** Adds whole numbers; "boom" is accepted by the check but throws when applied. */
class Counter {
  total = 0
  applied = 0
  apply(entry: LogEntry): Uint8Array {
    this.applied++
    const command = text(entry.data)
    if (command === 'boom') throw Object.assign(new Error('the counter refuses to boom'), { code: 'ERR_BOOM' })
    this.total += Number(command)
    return bytes(String(this.total))
  }
}

let cluster: ClusterConfig
let dir: string
const servers: NodeServer[] = []
const counters: Counter[] = []
let client: ClusterClient

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'raftlog-app-server-'))
  const path = join(dir, 'cluster.yaml')
  const ports = await freePorts(3)
  writeFileSync(path, `nodes:\n${ports.map((port, i) => `  - { node_id: ${i + 1}, ip_address: "127.0.0.1", port: ${port} }`).join('\n')}\ncluster_settings:\n  log_directory: "./logs"\n  log_segment_size: 1048576\n  election_timeout_range: { min: 150, max: 300 }\n  heartbeat_interval: 30\n`)
  cluster = loadClusterConfig(path)
  for (const node of cluster.nodes) {
    const counter = new Counter()
    counters.push(counter)
    servers.push(
      await startNodeServer({
        cluster,
        nodeId: node.nodeId,
        stateMachine: counter,
        checkCommand: (command) => (/^(-?\d+|boom)$/.test(text(command)) ? undefined : `not a whole number: ${JSON.stringify(text(command))}`),
        read: (query) => (text(query) === 'total' ? bytes(String(counter.total)) : text(query) === 'as text' ? (String(counter.total) as never) : Promise.reject(new Error(`unknown query ${JSON.stringify(text(query))}`))),
        logger: { warn: () => {} },
      }),
    )
  }
  client = ClusterClient.forCluster(cluster)
})

afterAll(async () => {
  client.close()
  await Promise.all(servers.map((server) => server.stop()))
  rmSync(dir, { recursive: true, force: true })
})

describe("a node server hosting the application's state machine", () => {
  it('applies a command once on every node and answers with what apply() returned', async () => {
    expect(text(await client.propose(bytes('5'), 10_000))).toBe('5')
    expect(text(await client.propose(bytes('7'), 10_000))).toBe('12')
    await expect.poll(() => counters.map((counter) => counter.total), { timeout: 5000 }).toEqual([12, 12, 12])
  })

  it('refuses a backup of a state machine without snapshot() and restore(): ERR_UNSUPPORTED, at once, no file left', async () => {
    const file = join(dir, 'backup.rlb')
    await expect(client.saveSnapshot(file, { timeoutMs: 10_000 })).rejects.toMatchObject({ code: 'ERR_UNSUPPORTED', message: expect.stringMatching(/has no snapshot\(\) and restore\(\)/) })
    expect(existsSync(file)).toBe(false)
    expect(existsSync(`${file}.tmp`)).toBe(false)
  })

  it("serves the application's read on every node after a ReadIndex: it sees every acknowledged write", async () => {
    await client.propose(bytes('1'), 10_000)
    const expected = String(counters.find((_c, i) => servers[i]!.node.status().role === 'leader')!.total)
    // Reads take turns over the nodes: followers answer too, never with an older total.
    for (let i = 0; i < 3; i++) expect(text(await client.read(bytes('total'), 10_000))).toBe(expected)
  })

  it('refuses a command that checkCommand rejects before it enters the log', async () => {
    const before = servers.map((server) => server.node.status().lastIndex)
    await expect(client.propose(bytes('five'), 10_000)).rejects.toMatchObject({ code: 'ERR_BAD_COMMAND', message: expect.stringContaining('not a whole number: "five"') })
    expect(servers.map((server) => server.node.status().lastIndex)).toEqual(before)
  })

  it("gives the state machine's own error back at once, as its answer, applied once", async () => {
    const applied = counters.map((counter) => counter.applied)
    const started = Date.now()
    await expect(client.propose(bytes('boom'), 10_000)).rejects.toMatchObject({ code: 'ERR_BOOM', message: 'the counter refuses to boom' })
    expect(Date.now() - started).toBeLessThan(5000)
    await expect.poll(() => counters.map((counter, i) => counter.applied - applied[i]!), { timeout: 5000 }).toEqual([1, 1, 1])
  })

  it("answers a read the read function refuses with ERR_BAD_COMMAND and the function's words", async () => {
    await expect(client.read(bytes('average'), 10_000)).rejects.toMatchObject({ code: 'ERR_BAD_COMMAND', message: expect.stringContaining('unknown query "average"') })
    // A read function that answers something else than bytes is told so; the node keeps serving.
    await expect(client.read(bytes('as text'), 10_000)).rejects.toMatchObject({ code: 'ERR_BAD_COMMAND', message: expect.stringContaining('The read function must answer with a Uint8Array, got string') })
    expect(text(await client.read(bytes('total'), 10_000))).toMatch(/^\d+$/)
  })

  it('refuses options that cannot work, naming them', async () => {
    await expect(startNodeServer({ cluster, nodeId: 1, stateMachine: {} as never })).rejects.toMatchObject({ code: 'ERR_BAD_ARGUMENT', message: expect.stringMatching(/stateMachine must have an apply\(entry\) method/) })
    await expect(startNodeServer({ cluster, nodeId: 9, stateMachine: new Counter() })).rejects.toThrow(`Node ID 9 not found in configuration file ${cluster.path} (ids: 1, 2, 3)`)
  })
})

describe('a node server without a read function', () => {
  it('refuses reads, saying so', async () => {
    const single = join(dir, 'single.yaml')
    writeFileSync(single, `nodes:\n  - { node_id: 1, ip_address: "127.0.0.1", port: ${await freePort()} }\ncluster_settings:\n  log_directory: "./single"\n`)
    const config = loadClusterConfig(single)
    const server = await startNodeServer({ cluster: config, nodeId: 1, stateMachine: new Counter(), logger: { warn: () => {} } })
    const alone = ClusterClient.forCluster(config)
    try {
      expect(text(await alone.propose(bytes('3'), 10_000))).toBe('3')
      await expect(alone.read(bytes('total'), 10_000)).rejects.toMatchObject({ code: 'ERR_BAD_COMMAND', message: expect.stringContaining('serves no reads') })
    } finally {
      alone.close()
      await server.stop()
    }
  })
})
