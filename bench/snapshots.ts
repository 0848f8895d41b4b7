// Snapshots, measured: (1) how long a follower with an empty disk takes to install a leader's
// snapshot of a large state (transfer in chunks, check, durable rename, restore), in MB/s;
// (2) restart time of a node by length of history at the same state size, and by state size:
// with snapshots it follows the state, not the history.
// Run: npm run bench:snapshot [-- --state-mb 100 --history 1000000]
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { benchArgs, positiveOption } from './bench-args.js'
import { RaftNode, type LogEntry } from '../src/index.js'
import { MemoryNetwork } from '../src/testing/memory-network.js'
import { KvStateMachine, encodeKvCommand } from '../src/kv/kv-state-machine.js'
import type { SnapshotInfo } from '../src/raft/state-machine.js'

const quiet = { warn(): void {} }
const timing = { electionTimeout: [100, 200] as [number, number], heartbeatInterval: 25 }

/** A state of `megabytes` MiB of bytes, grown by "grow" entries: a large state from a short log. */
class BlobMachine {
  blob: Buffer[] = []
  apply(entry: LogEntry): number {
    const megabytes = Number(Buffer.from(entry.data).toString())
    for (let i = 0; i < megabytes; i++) this.blob.push(Buffer.alloc(1024 * 1024, (this.blob.length * 31) & 0xff))
    return this.blob.length
  }
  snapshot(): AsyncIterable<Uint8Array> {
    const copy = this.blob.slice()
    return (async function* () {
      yield* copy
    })()
  }
  async restore(chunks: AsyncIterable<Uint8Array>, _meta: SnapshotInfo): Promise<void> {
    const parts: Buffer[] = []
    for await (const chunk of chunks) parts.push(Buffer.from(chunk))
    this.blob = parts
  }
}

async function waitFor<T>(probe: () => T | undefined | false, timeoutMs = 600_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = probe()
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error('timed out')
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

async function installBench(stateMb: number): Promise<{ seconds: number; megabytesPerSecond: number }> {
  const root = mkdtempSync(join(tmpdir(), 'raftlog-snapshot-bench-'))
  const network = new MemoryNetwork({ seed: 3 })
  const peers = [1, 2, 3]
  const options = (id: number) => ({ id, peers, dir: join(root, `node_${id}`), stateMachine: new BlobMachine(), transport: network.endpoint(id), logger: quiet, segmentSize: 64 * 1024, snapshotThreshold: 1_000_000, snapshotTrailingEntries: 0, ...timing })
  const nodes = [await RaftNode.start(options(1)), await RaftNode.start(options(2))]
  try {
    const leader = await waitFor(() => nodes.find((node) => node.status().role === 'leader'))
    await leader.propose(Buffer.from(String(stateMb)))
    // Pad the log past its first segment, so that compaction removes the start of the history.
    for (let i = 0; i < 200; i++) await leader.propose(Buffer.from('0'.padStart(500, '0')))
    for (const node of nodes) await node.snapshot()
    const started = performance.now()
    const newcomer = await RaftNode.start(options(3))
    nodes.push(newcomer)
    const target = leader.status().snapshotIndex
    await waitFor(() => newcomer.status().lastApplied >= target)
    const seconds = (performance.now() - started) / 1000
    if (newcomer.status().snapshotIndex < target) throw new Error('the new node caught up without a snapshot: the bench measures nothing')
    return { seconds, megabytesPerSecond: stateMb / seconds }
  } finally {
    for (const node of nodes) await node.stop()
    network.close()
    rmSync(root, { recursive: true, force: true })
  }
}

/** A single-node key-value store after `history` puts over `keys` keys; returns the restart time. */
async function restartBench(history: number, keys: number, valueBytes: number): Promise<{ restartMs: number; snapshotIndex: number }> {
  const root = mkdtempSync(join(tmpdir(), 'raftlog-restart-bench-'))
  const dir = join(root, 'node_1')
  const network = new MemoryNetwork()
  const options = { id: 1, peers: [1], dir, transport: network.endpoint(1), logger: quiet, ...timing }
  const value = 'v'.repeat(valueBytes)
  try {
    const node = await RaftNode.start({ ...options, stateMachine: new KvStateMachine() })
    await waitFor(() => node.status().role === 'leader')
    let next = 0
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next < history) {
          const i = next++
          await node.propose(encodeKvCommand({ op: 'put', key: `key-${i % keys}`, value }))
        }
      }),
    )
    await node.stop()
    const started = performance.now()
    const again = await RaftNode.start({ ...options, stateMachine: new KvStateMachine() })
    const { commitIndex } = again.status()
    await waitFor(() => again.status().lastApplied >= commitIndex)
    const restartMs = performance.now() - started
    const { snapshotIndex } = again.status()
    await again.stop()
    return { restartMs, snapshotIndex }
  } finally {
    network.close()
    rmSync(root, { recursive: true, force: true })
  }
}

const usage = `Usage: npm run bench:snapshot [-- --state-mb MB] [-- --history ENTRIES]

Snapshots, measured on an in-process cluster: how fast a follower with an empty disk installs a
leader's snapshot (MB/s), and a node's restart time by length of history and by state size.

  --state-mb MB        size of the state machine's state (default 100)
  --history ENTRIES    entries of history for the restart cases (default 1,000,000)`

async function main(): Promise<void> {
  const values = benchArgs(usage, { 'state-mb': { type: 'string' }, history: { type: 'string' } })
  const stateMb = positiveOption(usage, 'state-mb', values['state-mb'], 100)
  const history = positiveOption(usage, 'history', values.history, 1_000_000, true)
  console.log(`Snapshots (Node ${process.version}, MemoryNetwork, durable flushes)\n`)
  const install = await installBench(stateMb)
  console.log(`| installing a ${stateMb} MiB snapshot on a new follower | seconds | MiB/s |`)
  console.log('| --- | ---: | ---: |')
  console.log(`| transfer in 1 MiB chunks, check, fsync, rename, restore | ${install.seconds.toFixed(2)} | ${install.megabytesPerSecond.toFixed(0)} |\n`)
  console.log('| single node, key-value store | history (puts) | keys × value bytes | restart ms | started from snapshot at |')
  console.log('| --- | ---: | ---: | ---: | ---: |')
  for (const [label, puts, keys, bytes] of [
    ['short history', Math.min(20_000, history), 1000, 100],
    ['long history', history, 1000, 100],
    ['long history, 100x the state', history, 100_000, 100],
  ] as const) {
    const result = await restartBench(puts, keys, bytes)
    console.log(`| ${label} | ${puts.toLocaleString('en-US')} | ${keys.toLocaleString('en-US')} × ${bytes} | ${result.restartMs.toFixed(0)} | ${result.snapshotIndex.toLocaleString('en-US')} |`)
  }
}

main().catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
