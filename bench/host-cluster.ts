// npm run bench:host-cluster: puts/s with many groups against one, on three host processes. Each
// case starts three processes (bench/host-node.ts: a RaftHost over gRPC with G groups), waits
// until every group has a leader, then keeps 128 proposals of 100 B in flight from this process
// through HostClient, each to a random group, for a few seconds. The two cases take turns, twice.
// Issue 25's target: 64 groups at least 2× one group's puts/s at 128 clients, on the same three
// processes and the same two cores. The table also gives the cores each case kept busy (the three
// hosts together, and this client process), beside the machine's: where they add up to the
// machine, more groups cannot add puts/s. Before that, on the same processes, one client alone
// puts to one group for a few seconds: issue 25's target is a group's single-client latency
// within 1.2× of a single-group cluster's (p50 with 64 groups ÷ p50 with one).
// RAFTLOG_BENCH_GROUPS=1,64 picks the cases, RAFTLOG_BENCH_PROFILE_DIR=DIR writes each host's CPU
// profile there.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { availableParallelism, tmpdir } from 'node:os'
import { HostClient } from '../src/net/client/host-client.js'
import { freePorts } from './cluster/free-port.js'
import { benchArgs } from './bench-args.js'

benchArgs(
  `Usage: npm run bench:host-cluster

Puts/s with many groups against one, on three host processes over gRPC: 128 proposals of 100 B
in flight through HostClient, each to a random group, the cases taking turns; before that, one
client's latency. Reports puts/s, p50/p99 and the cores each case kept busy. No options; the
environment picks:

  RAFTLOG_BENCH_GROUPS=1,64       the group counts to run (default 1,64)
  RAFTLOG_BENCH_SLICES=N          turns of each case (default 2)
  RAFTLOG_BENCH_PROFILE_DIR=DIR   write each host's CPU profile into DIR
  RAFTLOG_BENCH_DEBUG=1           print the hosts' counters after each case`,
  {},
)

const clients = 128
const sliceMs = 5000
const slices = Number(process.env.RAFTLOG_BENCH_SLICES ?? 2)
const nodeScript = fileURLToPath(new URL('./host-node.js', import.meta.url))

const oneClientMs = 3000

/** The latency percentile `p` (0 to 1) of sorted `values`. */
const percentile = (values: readonly number[], p: number): number => values[Math.min(values.length - 1, Math.floor(values.length * p))] ?? Number.NaN

/** One client's closed loop of puts to `group` for `ms`: the latencies, sorted. */
async function oneClient(client: HostClient, group: number, ms: number): Promise<number[]> {
  const latencies: number[] = []
  const payload = Buffer.alloc(100, 3)
  const until = performance.now() + ms
  while (performance.now() < until) {
    const sent = performance.now()
    try {
      await client.propose(group, payload, 5000)
      latencies.push(performance.now() - sent)
    } catch {
      // A lost leader: the next proposal finds the new one.
    }
  }
  return latencies.sort((a, b) => a - b)
}

async function runCase(groups: number): Promise<{ putsPerSecond: number; p50Ms: number; flushes: number; hostsCpu: number; clientCpu: number; oneClient: number[] }> {
  const ports = await freePorts(3)
  const addresses = ports.map((port) => `127.0.0.1:${port}`)
  const dirs = addresses.map(() => mkdtempSync(join(tmpdir(), 'raftlog-host-cluster-')))
  const children: ChildProcess[] = addresses.map((_, i) => spawn(process.execPath, [...(process.env.RAFTLOG_BENCH_PROFILE_DIR === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${process.env.RAFTLOG_BENCH_PROFILE_DIR}`]), nodeScript, '--id', String(i + 1), '--hosts', addresses.join(','), '--groups', String(groups), '--dir', dirs[i] as string], { stdio: ['ignore', 'pipe', 'inherit'] }))
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
    // One client first: the hosts' CPU is counted from SIGUSR1, for the 128 clients only.
    const alone = await oneClient(client, 1, oneClientMs)
    const latencies: number[] = []
    const until = performance.now() + sliceMs
    const payload = Buffer.alloc(100, 7)
    for (const child of children) child.kill('SIGUSR1')
    const clientCpuFrom = process.cpuUsage()
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
    const clientCpuUsed = process.cpuUsage(clientCpuFrom)
    latencies.sort((a, b) => a - b)
    for (const child of children) child.kill('SIGTERM')
    await Promise.all(children.map((child) => new Promise((resolve) => child.on('exit', resolve))))
    const counters = outputs.map((lines) => JSON.parse(lines.find((line) => line.startsWith('{')) ?? '{}') as { flushes?: number; turns?: number; cpuMs?: number })
    if (process.env.RAFTLOG_BENCH_DEBUG !== undefined) console.error(`${groups} groups: ${latencies.length} puts in ${seconds.toFixed(1)} s; hosts' counters ${JSON.stringify(counters)}`)
    const flushes = counters.reduce((sum, counts) => sum + (counts.flushes ?? 0), 0)
    // Cores busy on average over the slice: the three hosts together, and this process (the client).
    const hostsCpu = counters.reduce((sum, counts) => sum + (counts.cpuMs ?? 0), 0) / 1000 / seconds
    const clientCpu = (clientCpuUsed.user + clientCpuUsed.system) / 1e6 / seconds
    return { putsPerSecond: latencies.length / seconds, p50Ms: latencies[Math.floor(latencies.length / 2)] ?? 0, flushes, hostsCpu, clientCpu, oneClient: alone }
  } finally {
    client.close()
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL')
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  }
}

const cases = (process.env.RAFTLOG_BENCH_GROUPS ?? '1,64').split(',').map(Number)
const results = new Map<number, { puts: number[]; p50: number[]; hostsCpu: number[]; clientCpu: number[]; oneClient: number[] }>(cases.map((groups) => [groups, { puts: [], p50: [], hostsCpu: [], clientCpu: [], oneClient: [] }]))
for (let slice = 0; slice < slices; slice++) {
  for (const groups of cases) {
    const result = await runCase(groups)
    results.get(groups)?.puts.push(result.putsPerSecond)
    results.get(groups)?.p50.push(result.p50Ms)
    results.get(groups)?.hostsCpu.push(result.hostsCpu)
    results.get(groups)?.clientCpu.push(result.clientCpu)
    results.get(groups)?.oneClient.push(...result.oneClient)
  }
}
const mean = (values: number[]): number => values.reduce((a, b) => a + b, 0) / values.length
const one = mean(results.get(1)?.puts ?? [Number.NaN])
console.log(`RaftHost cluster: three host processes over gRPC on this machine, ${clients} proposals of 100 B in flight (HostClient), ${slices} slices of ${sliceMs / 1000} s per case, alternating`)
console.log('| groups | puts/s | p50 ms | × one group | cores busy: hosts | client | machine |')
console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
for (const [groups, { puts, p50, hostsCpu, clientCpu }] of results) {
  console.log(`| ${groups} | ${Math.round(mean(puts)).toLocaleString('en-US')} | ${mean(p50).toFixed(1)} | ${(mean(puts) / one).toFixed(2)}× | ${mean(hostsCpu).toFixed(2)} | ${mean(clientCpu).toFixed(2)} | ${availableParallelism()} |`)
}

console.log('')
console.log(`One client, puts of 100 B to one group (group 1) in a closed loop, ${oneClientMs / 1000} s per slice, on the same processes`)
console.log('| groups | puts/s | p50 ms | p99 ms | p50 × one group |')
console.log('| ---: | ---: | ---: | ---: | ---: |')
const sortedOne = (groups: number): number[] => [...(results.get(groups)?.oneClient ?? [])].sort((a, b) => a - b)
const oneP50 = percentile(sortedOne(1), 0.5)
for (const groups of cases) {
  const alone = sortedOne(groups)
  const p50 = percentile(alone, 0.5)
  console.log(`| ${groups} | ${Math.round(alone.length / ((slices * oneClientMs) / 1000)).toLocaleString('en-US')} | ${p50.toFixed(2)} | ${percentile(alone, 0.99).toFixed(2)} | ${(p50 / oneP50).toFixed(2)}× |`)
}
