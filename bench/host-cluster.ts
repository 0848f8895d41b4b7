// npm run bench:host-cluster: puts/s with many groups against one, on three host processes. Each
// case starts three processes (bench/host-node.ts: a RaftHost over gRPC with G groups), waits
// until every group has a leader, then keeps 128 proposals of 100 B in flight from this process
// through HostClient, each to a random group, for a few seconds. The two cases take turns, twice.
// Issue 25's target: 64 groups at least 2× one group's puts/s at 128 clients, on the same three
// processes and the same two cores.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { HostClient } from '../src/net/client/host-client.js'
import { freePorts } from './cluster/free-port.js'

const clients = 128
const sliceMs = 5000
const slices = Number(process.env.RAFTLOG_BENCH_SLICES ?? 2)
const nodeScript = fileURLToPath(new URL('./host-node.js', import.meta.url))

async function runCase(groups: number): Promise<{ putsPerSecond: number; p50Ms: number; flushes: number }> {
  const ports = await freePorts(3)
  const addresses = ports.map((port) => `127.0.0.1:${port}`)
  const dirs = addresses.map(() => mkdtempSync(join(tmpdir(), 'raftlog-host-cluster-')))
  const children: ChildProcess[] = addresses.map((_, i) => spawn(process.execPath, [nodeScript, '--id', String(i + 1), '--hosts', addresses.join(','), '--groups', String(groups), '--dir', dirs[i] as string], { stdio: ['ignore', 'pipe', 'inherit'] }))
  const outputs = children.map((child) => {
    const lines: string[] = []
    child.stdout?.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter((line) => line !== '')))
    return lines
  })
  const client = new HostClient(addresses.map((address, i) => ({ id: i + 1, address })))
  try {
    while (!outputs.every((lines) => lines.includes('ready'))) await new Promise((resolve) => setTimeout(resolve, 50))
    // Every group led before the clock starts.
    for (let group = 1; group <= groups; group++) await client.propose(group, Buffer.alloc(1), 20_000)
    const latencies: number[] = []
    const until = performance.now() + sliceMs
    const payload = Buffer.alloc(100, 7)
    const started = performance.now()
    await Promise.all(
      Array.from({ length: clients }, async (_, slot) => {
        let next = slot
        while (performance.now() < until) {
          const group = (next++ % groups) + 1
          const sent = performance.now()
          try {
            await client.propose(group, payload, 5000)
            latencies.push(performance.now() - sent)
          } catch {
            // A lost leader: the next proposal finds the new one.
          }
        }
      }),
    )
    const seconds = (performance.now() - started) / 1000
    latencies.sort((a, b) => a - b)
    for (const child of children) child.kill('SIGTERM')
    await Promise.all(children.map((child) => new Promise((resolve) => child.on('exit', resolve))))
    const counters = outputs.map((lines) => JSON.parse(lines.find((line) => line.startsWith('{')) ?? '{}') as { flushes?: number; turns?: number })
    if (process.env.RAFTLOG_BENCH_DEBUG !== undefined) console.error(`${groups} groups: ${latencies.length} puts in ${seconds.toFixed(1)} s; hosts' counters ${JSON.stringify(counters)}`)
    const flushes = counters.reduce((sum, counts) => sum + (counts.flushes ?? 0), 0)
    return { putsPerSecond: latencies.length / seconds, p50Ms: latencies[Math.floor(latencies.length / 2)] ?? 0, flushes }
  } finally {
    client.close()
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL')
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  }
}

const cases = [1, 64]
const results = new Map<number, { puts: number[]; p50: number[] }>(cases.map((groups) => [groups, { puts: [], p50: [] }]))
for (let slice = 0; slice < slices; slice++) {
  for (const groups of cases) {
    const result = await runCase(groups)
    results.get(groups)?.puts.push(result.putsPerSecond)
    results.get(groups)?.p50.push(result.p50Ms)
  }
}
const mean = (values: number[]): number => values.reduce((a, b) => a + b, 0) / values.length
const one = mean(results.get(1)?.puts ?? [1])
console.log(`RaftHost cluster: three host processes over gRPC on this machine, ${clients} proposals of 100 B in flight (HostClient), ${slices} slices of ${sliceMs / 1000} s per case, alternating`)
console.log('| groups | puts/s | p50 ms | × one group |')
console.log('| ---: | ---: | ---: | ---: |')
for (const [groups, { puts, p50 }] of results) console.log(`| ${groups} | ${Math.round(mean(puts)).toLocaleString('en-US')} | ${mean(p50).toFixed(1)} | ${(mean(puts) / one).toFixed(2)}× |`)
