// npm run bench:idle-groups [-- --groups N]: what idle Raft groups cost on RaftHosts. Three hosts
// in this process (each with its own LogEngine in a temporary directory, an in-memory network
// between them) hold N groups each (default 10,000). Every group elects (its leader's no-op entry),
// then goes quiet; the bench reports, per host:
// - memory per group replica (heap and RSS growth over the three hosts, divided by 3 × N);
// - CPU while idle, ticking every 100 ms for 5 s (the hosts' beats still flow);
// - the time to reopen a host's engine and start its N replicas again (a restart).
// The targets: under 32 KiB per replica, under 5% of a core idle, restart under 3 s.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LogEngine } from '../src/engine/log-engine.js'
import { RaftHost } from '../src/host/raft-host.js'
import { MemoryHostNetwork } from '../src/testing/memory-host-network.js'
import { collectGarbage } from './collect-garbage.js'
import { benchArgs, positiveOption } from './bench-args.js'

const tickMs = 100
const idleSeconds = 5
const hostIds = [1, 2, 3]

const usage = `Usage: npm run bench:idle-groups [-- --groups N]

What idle Raft groups cost: three RaftHosts in this process (an in-memory network between them)
hold N groups each; every group elects, then goes quiet. Reports memory per group replica, CPU
per host while idle (ticking every 100 ms for 5 s) and the time to restart a host.

  --groups N   groups per host (default 10,000)`

const values = benchArgs(usage, { groups: { type: 'string' } })
const groups = positiveOption(usage, 'groups', values.groups, 10_000, true)

const noop = { apply: () => undefined }
const dirs = hostIds.map(() => mkdtempSync(join(tmpdir(), 'raftlog-idle-groups-')))
const network = new MemoryHostNetwork()
const engines: LogEngine[] = []
const hosts: RaftHost[] = []

function start(id: number): RaftHost {
  const engine = LogEngine.open(dirs[id - 1] as string)
  engines[id - 1] = engine
  const host = new RaftHost({ nodeId: id, hosts: hostIds, engine, transport: network.transportFor(id), electionTicks: [10, 20], quiesceAfterTicks: 30 })
  for (let group = 1; group <= groups; group++) host.addGroup(group, hostIds, noop)
  network.attach(host)
  hosts[id - 1] = host
  return host
}

async function tickAll(count: number, pauseMs = 0): Promise<void> {
  for (let i = 0; i < count; i++) {
    for (const host of hosts) host.tick()
    for (let round = 0; round < 3; round++) {
      await new Promise((resolve) => setTimeout(resolve, 0))
      network.deliver()
    }
    if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs))
  }
}

try {
  collectGarbage()
  const before = process.memoryUsage()
  for (const id of hostIds) start(id)
  // Elect every group (its leader commits its no-op entry), then let them all go quiet.
  for (let i = 0; i < 400 && hosts.some((host) => host.quietGroups < groups); i++) await tickAll(1)
  const quiet = hosts.map((host) => host.quietGroups)
  collectGarbage()
  const after = process.memoryUsage()
  const replicas = groups * hostIds.length
  const heapPerReplica = (after.heapUsed - before.heapUsed) / replicas
  const rssPerReplica = (after.rss - before.rss) / replicas

  const cpuBefore = process.cpuUsage()
  const wallBefore = performance.now()
  const ticksBefore = hosts.map((host) => host.counters.groupTicks)
  await tickAll((idleSeconds * 1000) / tickMs, tickMs)
  const cpu = process.cpuUsage(cpuBefore)
  const wall = performance.now() - wallBefore
  const idleCorePerHost = (cpu.user + cpu.system) / 1000 / wall / hostIds.length
  const groupTicksIdle = hosts.reduce((sum, host, i) => sum + host.counters.groupTicks - (ticksBefore[i] as number), 0)

  hosts[2]?.stop()
  engines[2]?.close()
  const restartStart = performance.now()
  start(3)
  const restartMs = performance.now() - restartStart

  const kib = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`
  console.log(`RaftHost idle groups: 3 hosts in one process, ${groups.toLocaleString('en-US')} groups each, ${replicas.toLocaleString('en-US')} replicas`)
  console.log(`| measure | value | target |`)
  console.log(`| --- | --- | --- |`)
  console.log(`| groups quiet after electing (the leader's no-op entry committed) | ${quiet.map((q) => q.toLocaleString('en-US')).join(' / ')} | all |`)
  console.log(`| heap per group replica | ${kib(heapPerReplica)} | |`)
  console.log(`| RSS per group replica | ${kib(rssPerReplica)} | under 32 KiB |`)
  console.log(`| CPU per host while idle (tick every ${tickMs} ms) | ${(idleCorePerHost * 100).toFixed(2)}% of a core | under 5% |`)
  console.log(`| group ticks while idle (${idleSeconds} s) | ${groupTicksIdle} | 0 |`)
  console.log(`| restart of a host: engine open + ${groups.toLocaleString('en-US')} replicas | ${restartMs.toFixed(0)} ms | under 3,000 ms |`)
} finally {
  for (const host of hosts) host.stop()
  for (const engine of engines) if (engine !== undefined) engine.close()
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
}
