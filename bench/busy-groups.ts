// npm run bench:busy-groups: disk flushes with one busy group against 64, at the same load. Three
// RaftHosts in this process (each its own LogEngine, an in-memory network between them); 128
// proposals are kept in flight, all to one group or spread over 64 groups (their leaders spread
// over the hosts), for a few seconds each, alternating; then the same at a paced rate (an open
// loop: `pacedRate` proposals a second, whatever is in flight), so both cases carry the same load.
// Reported per case: proposals committed per second and engine flushes per second over the three
// hosts. A host flushes once per turn whatever the number of groups in it, so at the same load 64
// busy groups should not flush more than one. With 128 in flight the two cases do not carry the
// same load: each host flushes as fast as its disk lets it (one flush in flight), so there the
// flushes/s measure the disk, and proposals per flush the batching. 64 groups run twice: without
// and with a commit delay of 1 ms (RaftHostOptions.commitDelayMs), which trades latency (the p50
// column) for fewer flushes.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LogEngine } from '../src/engine/log-engine.js'
import { RaftHost } from '../src/host/raft-host.js'
import { MemoryHostNetwork } from '../src/testing/memory-host-network.js'
import { benchArgs } from './bench-args.js'

benchArgs(
  `Usage: npm run bench:busy-groups

Disk flushes with one busy group against 64, at the same load: three RaftHosts in this process
(an in-memory network between them), 128 proposals in flight to one group or spread over 64,
then the same at a paced 20,000 proposals a second; 64 groups without and with a commit delay of
1 ms. Reports proposals/s, engine flushes/s, proposals per flush and p50 latency. No options.`,
  {},
)

const hostIds = [1, 2, 3]
const inFlight = 128
const sliceMs = 3000
const slices = 2
/** The paced cases' offered load (proposals/s), below what either case sustains on this machine. */
const pacedRate = 20_000
/** The cases: busy groups and the hosts' commit delay (ms; 0: off, the default). */
const cases = [
  { groups: 1, commitDelayMs: 0 },
  { groups: 64, commitDelayMs: 0 },
  { groups: 64, commitDelayMs: 1 },
]

type Load = { kind: 'in flight'; count: number } | { kind: 'paced'; perSecond: number }

async function runCase(groups: number, commitDelayMs: number, load: Load): Promise<{ proposalsPerSecond: number; flushesPerSecond: number; latencies: number[] }> {
  const dirs = hostIds.map(() => mkdtempSync(join(tmpdir(), 'raftlog-busy-groups-')))
  const network = new MemoryHostNetwork()
  const engines = hostIds.map((id) => LogEngine.open(dirs[id - 1] as string))
  const hosts = hostIds.map((id) => new RaftHost({ nodeId: id, hosts: hostIds, engine: engines[id - 1] as LogEngine, transport: network.transportFor(id), electionTicks: [10, 20], commitDelayMs }))
  for (const host of hosts) {
    network.attach(host)
    for (let group = 1; group <= groups; group++) host.addGroup(group, hostIds, { apply: () => undefined })
  }
  // The network delivers whenever there is something to deliver; the clock ticks every 10 ms.
  let running = true
  const pump = (async () => {
    while (running) {
      await new Promise((resolve) => setImmediate(resolve))
      network.deliver()
    }
  })()
  const clock = setInterval(() => {
    for (const host of hosts) host.tick()
  }, 10)
  try {
    const leaderOf = (group: number): RaftHost | undefined => {
      const id = hosts[0]?.leaderOf(group) ?? 0
      return id === 0 ? undefined : hosts[id - 1]
    }
    while (Array.from({ length: groups }, (_, g) => leaderOf(g + 1)).some((host) => host === undefined)) await new Promise((resolve) => setTimeout(resolve, 20))
    const flushesNow = (): number => hosts.reduce((sum, host) => sum + host.counters.flushes, 0)
    let committed = 0
    /** Milliseconds from each committed proposal to its answer. */
    const latencies: number[] = []
    const until = performance.now() + sliceMs
    const flushesBefore = flushesNow()
    const started = performance.now()
    // Every millisecond, the proposals due by then, each to the next group: none waits for another.
    const paced = async (perSecond: number): Promise<void> => {
      const payload = Buffer.alloc(100, 1)
      const pending: Promise<void>[] = []
      let issued = 0
      while (performance.now() < until) {
        const due = Math.floor(((performance.now() - started) / 1000) * perSecond)
        for (; issued < due; issued++) {
          const group = (issued % groups) + 1
          const leader = leaderOf(group)
          if (leader === undefined) continue
          const sent = performance.now()
          pending.push(leader.propose(group, payload).then(() => {
            committed++
            latencies.push(performance.now() - sent)
          }, () => undefined))
        }
        await new Promise((resolve) => setTimeout(resolve, 1))
      }
      await Promise.all(pending)
    }
    const worker = async (slot: number): Promise<void> => {
      const payload = Buffer.alloc(100, slot)
      for (let next = slot; performance.now() < until; next += inFlight) {
        const group = (next % groups) + 1
        const leader = leaderOf(group)
        if (leader === undefined) {
          await new Promise((resolve) => setTimeout(resolve, 5))
          continue
        }
        try {
          const sent = performance.now()
          await leader.propose(group, payload)
          committed++
          latencies.push(performance.now() - sent)
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 5))
        }
      }
    }
    if (load.kind === 'in flight') await Promise.all(Array.from({ length: load.count }, (_, slot) => worker(slot)))
    else await paced(load.perSecond)
    const seconds = (performance.now() - started) / 1000
    return { proposalsPerSecond: committed / seconds, flushesPerSecond: (flushesNow() - flushesBefore) / seconds, latencies }
  } finally {
    running = false
    clearInterval(clock)
    await pump
    for (const host of hosts) host.stop()
    for (const engine of engines) engine.close()
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  }
}

const loads: Load[] = [
  { kind: 'in flight', count: inFlight },
  { kind: 'paced', perSecond: pacedRate },
]
const describe = (load: Load): string => (load.kind === 'in flight' ? `${load.count} in flight` : `paced, ${load.perSecond.toLocaleString('en-US')}/s`)
const results = new Map<string, { proposals: number[]; flushes: number[]; latencies: number[] }>()
for (let slice = 0; slice < slices; slice++) {
  for (const load of loads) {
    for (const { groups, commitDelayMs } of cases) {
      const result = await runCase(groups, commitDelayMs, load)
      const key = `${describe(load)} | ${groups} | ${commitDelayMs}`
      if (!results.has(key)) results.set(key, { proposals: [], flushes: [], latencies: [] })
      const kept = results.get(key)
      kept?.proposals.push(result.proposalsPerSecond)
      kept?.flushes.push(result.flushesPerSecond)
      for (const latency of result.latencies) kept?.latencies.push(latency)
    }
  }
}
const mean = (values: number[]): number => values.reduce((a, b) => a + b, 0) / values.length
const whole = (value: number): string => Math.round(value).toLocaleString('en-US')
console.log(`RaftHost busy groups: 3 hosts in one process, proposals of 100 B, ${slices} slices of ${sliceMs / 1000} s per case, alternating`)
console.log('| load | busy groups | commit delay ms | proposals/s | flushes/s (3 hosts) | proposals per flush | p50 ms |')
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |')
const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN
for (const [key, { proposals, flushes, latencies }] of results) console.log(`| ${key} | ${whole(mean(proposals))} | ${whole(mean(flushes))} | ${(mean(proposals) / mean(flushes)).toFixed(1)} | ${median(latencies).toFixed(2)} |`)
