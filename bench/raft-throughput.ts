// An in-process 3-node cluster over MemoryNetwork with real, durable logs: proposals committed
// per second and commit latency, at several numbers of proposals in flight.
// Run: npm run bench:raft [-- --seconds 5]
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { RaftNode } from '../src/raft/node/raft-node.js'
import { MemoryNetwork } from '../src/testing/memory-network.js'
import { percentile } from './stats.js'
import { benchArgs, positiveOption } from './bench-args.js'

const usage = `Usage: npm run bench:raft [-- --seconds S] [-- --payload BYTES]

An in-process 3-node cluster over an in-memory network with real, durable logs: proposals
committed per second and their latency p50/p99, with 1, 16 and 128 proposals in flight.

  --seconds S       how long each case runs (default 3)
  --payload BYTES   size of each proposal (default 100)`

export interface RaftBenchResult {
  inFlight: number
  committedPerSecond: number
  p50Ms: number
  p99Ms: number
}

async function waitForLeader(nodes: RaftNode[]): Promise<RaftNode> {
  for (;;) {
    const leader = nodes.find((node) => node.status().role === 'leader')
    if (leader !== undefined) return leader
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

export async function runRaftBench(options: { seconds: number; inFlight: number[]; payloadBytes: number }): Promise<RaftBenchResult[]> {
  const root = mkdtempSync(join(tmpdir(), 'raftlog-raft-bench-'))
  const network = new MemoryNetwork({ seed: 1 })
  const peers = [1, 2, 3]
  const nodes = await Promise.all(
    peers.map((id) =>
      RaftNode.start({ id, peers, dir: join(root, `node_${id}`), stateMachine: { apply: () => undefined }, transport: network.endpoint(id), logger: { warn() {} } }),
    ),
  )
  try {
    const leader = await waitForLeader(nodes)
    const payload = new Uint8Array(options.payloadBytes).fill(7)
    const results: RaftBenchResult[] = []
    for (const inFlight of options.inFlight) {
      const latencies: number[] = []
      const deadline = performance.now() + options.seconds * 1000
      const proposer = async (): Promise<void> => {
        while (performance.now() < deadline) {
          const started = performance.now()
          await leader.propose(payload)
          latencies.push(performance.now() - started)
        }
      }
      const started = performance.now()
      await Promise.all(Array.from({ length: inFlight }, proposer))
      const seconds = (performance.now() - started) / 1000
      results.push({ inFlight, committedPerSecond: latencies.length / seconds, p50Ms: percentile(latencies, 0.5), p99Ms: percentile(latencies, 0.99) })
    }
    return results
  } finally {
    for (const node of nodes) await node.stop()
    network.close()
    rmSync(root, { recursive: true, force: true })
  }
}

async function main(): Promise<void> {
  const values = benchArgs(usage, { seconds: { type: 'string' }, payload: { type: 'string' } })
  const seconds = positiveOption(usage, 'seconds', values.seconds, 3)
  const payloadBytes = positiveOption(usage, 'payload', values.payload, 100, true)
  const results = await runRaftBench({ seconds, inFlight: [1, 16, 128], payloadBytes })
  console.log(`3-node in-process cluster, MemoryNetwork, durable flushes, ${payloadBytes} B proposals, ${seconds} s each (Node ${process.version})\n`)
  console.log('| proposals in flight | committed/s | latency p50 ms | latency p99 ms |')
  console.log('| ---: | ---: | ---: | ---: |')
  for (const r of results) console.log(`| ${r.inFlight} | ${Math.round(r.committedPerSecond).toLocaleString('en-US')} | ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} |`)
}

if (process.argv[1]?.endsWith('raft-throughput.js')) {
  main().catch((error: unknown) => {
    console.error(error)
    process.exitCode = 1
  })
}
