// Runs the workload on clusters that are already up: a warm-up, then each round measures idle
// CPU and every case on every cluster in turn (raftlog's row, then etcd's, case by case), each
// case run unmeasured on a cluster just before its first row there.
import { percentile } from '../stats.js'
import { closedLoop, forEachConcurrently, type LoopResult } from './closed-loop.js'
import { measureLock, measureWatch } from './coordination.js'
import type { KvCluster, SystemName } from './kv-cluster.js'
import { totalCpuMs } from './process-cpu.js'
import type { IdleResult, RowResult } from './report.js'
import type { ServerProcesses } from './server-processes.js'
import { caseName, getKey, getKeyCount, getValueBytes, idleSettleMs, putKey, rowSeconds, setupConcurrency, valueOf, type BenchCase, type WorkloadSettings } from './workload.js'

/** Pause between rows: work a row left behind (flushes, applies on followers) ends before the next starts. */
const rowPauseMs = 250

export interface ClusterBenchRun {
  rows: RowResult[]
  idle: IdleResult[]
  leaders: { round: number; system: SystemName; leader: string }[]
}

export async function runClusterBench(clusters: KvCluster[], workload: WorkloadSettings, servers: ServerProcesses, progress: (line: string) => void): Promise<ClusterBenchRun> {
  const run: ClusterBenchRun = { rows: [], idle: [], leaders: [] }
  for (const cluster of clusters) {
    progress(`${cluster.system}: writing ${getKeyCount} keys for the gets, then a ${workload.warmUpSeconds} s warm-up`)
    await warmUp(cluster, workload.warmUpSeconds)
    servers.assertAlive()
  }
  for (let round = 1; round <= workload.rounds; round++) {
    for (const cluster of clusters) run.leaders.push({ round, system: cluster.system, leader: await cluster.leader() })
    progress(`round ${round}: idle CPU over ${workload.idleSeconds} s`)
    const idle = await measureIdle(clusters, workload.idleSeconds)
    run.idle.push(...idle.map((entry) => ({ round, ...entry })))
    for (const benchCase of workload.cases) {
      for (const cluster of clusters) {
        if (round === 1 && workload.warmCaseSeconds > 0) {
          progress(`${caseName(benchCase)} ${benchCase.clients} ${cluster.system}: unmeasured ${workload.warmCaseSeconds} s first`)
          // At least setupConcurrency clients (a watch row's watchers aside): more calls of the same code in the same time.
          const warmClients = benchCase.operation === 'watch' ? benchCase.clients : Math.max(benchCase.clients, setupConcurrency)
          // Round 0: locks and watched keys of their own, none the measured row takes.
          const warm = await measureRow(cluster, { ...benchCase, clients: warmClients }, workload.warmCaseSeconds, 0)
          if (warm.errors > 0) progress(`${caseName(benchCase)} ${cluster.system}: the unmeasured run had ${warm.errors} failed (${warm.firstError})`)
          await pause(rowPauseMs)
        }
        const row = await measureRow(cluster, benchCase, rowSeconds(benchCase, workload.secondsPerRow), round)
        servers.assertAlive()
        run.rows.push(row)
        progress(
          `round ${round} ${caseName(benchCase)} ${benchCase.clients} ${benchCase.operation === 'watch' ? 'watcher' : 'client'}${benchCase.clients === 1 ? '' : 's'} ${cluster.system}: ${Math.round(row.opsPerSecond)} ops/s, ` +
            `p50 ${row.p50Ms.toFixed(2)} ms, p99 ${row.p99Ms.toFixed(2)} ms, server CPU ${row.serverCpuMsPerOp.toFixed(3)} ms/op${row.errors > 0 ? `, ${row.errors} failed (${row.firstError})` : ''}`,
        )
        await pause(rowPauseMs)
      }
    }
  }
  return run
}

async function warmUp(cluster: KvCluster, seconds: number): Promise<void> {
  const getValue = valueOf(getValueBytes)
  await forEachConcurrently(getKeyCount, setupConcurrency, (n) => cluster.put(getKey(n), getValue))
  const putLoop = await closedLoop(setupConcurrency, seconds / 2, (n) => cluster.put(putKey(n), getValue))
  const getLoop = await closedLoop(setupConcurrency, seconds / 2, (n) => cluster.get(getKey(n)))
  // One of each etcd call, so a cluster that cannot serve them fails here, not in a row.
  await cluster.range(getKey(0))
  await cluster.txn(getKey(0), getValue)
  for (const loop of [putLoop, getLoop]) {
    if (loop.ops === 0) throw new Error(`${cluster.system} answered no operation during the warm-up: ${loop.firstError ?? 'no error either'}`)
  }
}

/** Every cluster's cores used over the same `seconds` of no load. */
async function measureIdle(clusters: KvCluster[], seconds: number): Promise<Omit<IdleResult, 'round'>[]> {
  await pause(idleSettleMs)
  const before = clusters.map((cluster) => totalCpuMs(cluster.pids))
  const started = performance.now()
  await pause(seconds * 1000)
  const wallMs = performance.now() - started
  return clusters.map((cluster, i) => ({ system: cluster.system, seconds: wallMs / 1000, coresUsed: (totalCpuMs(cluster.pids) - (before[i] as number)) / wallMs }))
}

async function measureRow(cluster: KvCluster, benchCase: BenchCase, seconds: number, round: number): Promise<RowResult> {
  const value = valueOf(benchCase.valueBytes)
  const operations: Record<'put' | 'get' | 'range' | 'txn', (n: number) => Promise<unknown>> = {
    put: (n) => cluster.put(putKey(n), value),
    get: (n) => cluster.get(getKey(n)),
    range: (n) => cluster.range(getKey(n)),
    // A compare-and-put on the keys the gets read: each holds the value it compares with and puts back.
    txn: (n) => cluster.txn(getKey(n), value),
  }
  const endpoints = benchCase.operation === 'watch' || benchCase.operation === 'lock' ? await cluster.etcdApi() : undefined
  const serverBefore = totalCpuMs(cluster.pids)
  const driverBefore = process.cpuUsage()
  let loop: LoopResult
  if (endpoints !== undefined && benchCase.operation === 'watch') loop = await measureWatch(endpoints, `watch-${round}-${benchCase.clients}`, benchCase.clients, benchCase.putsPerSecond ?? 0, seconds)
  else if (endpoints !== undefined && benchCase.operation === 'lock') loop = await measureLock(endpoints, `lock-${round}-${benchCase.clients}`, benchCase.clients, benchCase.contended === true, seconds)
  else loop = await closedLoop(benchCase.clients, seconds, operations[benchCase.operation as keyof typeof operations])
  const driver = process.cpuUsage(driverBefore)
  const serverCpuMs = totalCpuMs(cluster.pids) - serverBefore
  const driverCpuMs = (driver.user + driver.system) / 1000
  return {
    round,
    system: cluster.system,
    ...benchCase,
    ops: loop.ops,
    errors: loop.errors,
    ...(loop.firstError === undefined ? {} : { firstError: loop.firstError }),
    seconds: loop.seconds,
    opsPerSecond: loop.ops / loop.seconds,
    p50Ms: percentile(loop.latenciesMs, 0.5),
    p99Ms: percentile(loop.latenciesMs, 0.99),
    p999Ms: percentile(loop.latenciesMs, 0.999),
    serverCpuMsPerOp: serverCpuMs / loop.ops,
    driverCpuMsPerOp: driverCpuMs / loop.ops,
  }
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
