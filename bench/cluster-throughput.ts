// A local 3-process raftlog cluster over gRPC with durable flushes, side by side with a 3-member
// etcd when one is installed: puts, linearizable gets, etcd ranges and compare-and-put transactions
// per second, latency and server CPU.
// Run: npm run bench:cluster [-- --seconds 3] [-- --rounds 2] [-- --quick] [-- --skip-etcd]
import { mkdirSync, mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { packageRoot } from '../src/package-root.js'
import { clusterChartSvg } from './cluster/chart.js'
import { etcdInstallHint, etcdVersion, findEtcd, startEtcdCluster } from './cluster/etcd-cluster.js'
import type { KvCluster } from './cluster/kv-cluster.js'
import { clockTicksPerSecond } from './cluster/process-cpu.js'
import { startRaftlogCluster } from './cluster/raftlog-cluster.js'
import { markdown, type ClusterBenchReport } from './cluster/report.js'
import { runClusterBench, type ClusterBenchRun } from './cluster/run-cluster-bench.js'
import { ServerProcesses } from './cluster/server-processes.js'
import { getKeyCount, putKeySpace, workloadFor, type BenchCase, type WorkloadSettings } from './cluster/workload.js'

const help = `Usage: npm run bench:cluster [-- --seconds S] [-- --rounds N] [-- --quick] [-- --skip-etcd] [-- --dir D] [-- --no-save] [-- --profile DIR] [-- --cases LIST]
                            [-- --warm-case S]

Starts 3 raftlog node processes and, when etcd is on PATH, a 3-member etcd on 127.0.0.1, and
drives both from this process with the same closed-loop load: puts of 100 B and 1 KiB values and
linearizable gets, each at 1, 16 and 128 concurrent clients, then etcd's Range of one key
(raftlog: KvClient.range) and a compare-and-put Txn (if the key holds its value, put it back) at
1, 16 and 128 clients; watch rows (1 watcher of a key with a closed-loop writer, 1,000 watchers
with a writer at 20 puts/s: events delivered per second, latency from the put's send to each
event's arrival) and lock rows (v3lock Lock + Unlock at the leader, each client its own lease
and lock, 1, 16 and 128 clients), both over raw gRPC with the same client code for the two
systems; raftlog's row then etcd's for each case, the whole table run --rounds
times after a warm-up, each case first run unmeasured on each cluster. etcd gets its best setup: every call goes to its leader (found by
Maintenance.Status and MemberList before each round), and so does raftlog (its client
with reads: 'leader'). Prints a Markdown table of ops/s,
latency p50/p99/p999, server CPU per operation and raftlog ÷ etcd, and the idle CPU of each
cluster. Writes bench/results/cluster-<date>.json, .md and .svg (ops/s per case).

  --seconds S   seconds per row (default 3; 1 with --quick)
  --rounds N    times the whole table runs (default 2; 1 with --quick)
  --quick       fewer, shorter rows: 100 B puts and gets at 1 and 128 clients; ranges and
                txns still at 1, 16 and 128
  --skip-etcd   run raftlog alone even when etcd is installed (no ratios)
  --dir D       where the servers keep their data (default: the system temp directory); it
                must be a real disk, not tmpfs, for fsync to cost what it costs
  --no-save     do not write the results files
  --cases LIST  only these operations, comma-separated: put, get, range, txn, watch, lock
  --warm-case S seconds each case runs unmeasured on a cluster before its first row (default 2;
                1 with --quick; 0: none): a Node process reaches its speed on a code path only
                after a few thousand calls of it
  --profile DIR the raftlog nodes write V8 CPU profiles into DIR as they stop (open them in
                Chrome DevTools); profiling slows them, so such a run's figures are not saved`

/** Exit status after a signal, as a shell reports a process ended by that signal. */
const signalExitCodes = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 } as const
/** statfs f_type of tmpfs: an fsync there makes nothing durable. */
const tmpfsMagic = 0x01021994

/** A wrong option: its message is all the user needs, not a stack. */
class UsageError extends Error {}

function positive(value: string | undefined, option: string, whole: boolean): number | undefined {
  if (value === undefined) return undefined
  const number = Number(value)
  if (!Number.isFinite(number) || number <= 0 || (whole && !Number.isInteger(number))) {
    throw new UsageError(`--${option} must be a positive ${whole ? 'whole ' : ''}number, got '${value}'`)
  }
  return number
}

function commandLine(args: string[]): string {
  return `npm run bench:cluster${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`
}

async function main(): Promise<void> {
  const args = process.argv.slice(2)
  const { values } = parseArgs({
    args,
    options: {
      seconds: { type: 'string' },
      rounds: { type: 'string' },
      quick: { type: 'boolean' },
      'skip-etcd': { type: 'boolean' },
      dir: { type: 'string' },
      'no-save': { type: 'boolean' },
      profile: { type: 'string' },
      cases: { type: 'string' },
      'warm-case': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help === true) {
    console.log(help)
    return
  }
  const quick = values.quick === true
  const workload = workloadFor({ quick, seconds: positive(values.seconds, 'seconds', false), rounds: positive(values.rounds, 'rounds', true) })
  if (values['warm-case'] !== undefined) {
    const seconds = Number(values['warm-case'])
    if (values['warm-case'].trim() === '' || !Number.isFinite(seconds) || seconds < 0) throw new UsageError(`--warm-case must be a number of seconds, 0 or more, got '${values['warm-case']}'`)
    workload.warmCaseSeconds = seconds
  }
  if (values.cases !== undefined) {
    const wanted = values.cases.split(',').map((name) => name.trim())
    const known = [...new Set(workload.cases.map((benchCase) => benchCase.operation))]
    const unknown = wanted.filter((name) => !known.includes(name as BenchCase['operation']))
    if (unknown.length > 0) throw new UsageError(`--cases takes ${known.join(', ')}; got ${unknown.join(', ')}`)
    workload.cases = workload.cases.filter((benchCase) => wanted.includes(benchCase.operation))
  }
  const etcdBinary = values['skip-etcd'] === true ? undefined : findEtcd()
  if (etcdBinary === undefined && values['skip-etcd'] !== true) console.error(etcdInstallHint)

  const root = mkdtempSync(join(values.dir ?? tmpdir(), 'raftlog-cluster-bench-'))
  if (statfsSync(root).type === tmpfsMagic) console.error(`Warning: ${root} is on tmpfs, where fsync costs nothing: the figures are not those of durable servers (use --dir on a disk)`)
  const servers = new ServerProcesses()
  const clusters: KvCluster[] = []
  let cleanup: Promise<void> | undefined
  const cleanUp = (keepFiles: boolean): Promise<void> =>
    (cleanup ??= (async () => {
      for (const cluster of clusters) cluster.close()
      await servers.stopAll()
      if (keepFiles) console.error(`The servers' logs and data are kept in ${root}`)
      else rmSync(root, { recursive: true, force: true })
    })())
  const onSignal = (signal: keyof typeof signalExitCodes): void => {
    console.error(`${signal}: stopping the servers`)
    void cleanUp(false).finally(() => process.exit(signalExitCodes[signal]))
  }
  for (const signal of Object.keys(signalExitCodes) as (keyof typeof signalExitCodes)[]) process.once(signal, onSignal)

  let failed = true
  try {
    console.error('Starting 3 raftlog nodes' + (etcdBinary === undefined ? '' : ` and 3 etcd members (${etcdBinary})`))
    const profileDir = values.profile === undefined ? undefined : resolve(values.profile)
    if (profileDir !== undefined) mkdirSync(profileDir, { recursive: true })
    clusters.push(await startRaftlogCluster(servers, join(root, 'raftlog'), profileDir))
    if (etcdBinary !== undefined) clusters.push(await startEtcdCluster(servers, etcdBinary, join(root, 'etcd')))
    const run = await runClusterBench(clusters, workload, servers, (line) => console.error(line))
    const report = reportOf(run, clusters, workload, commandLine(args), etcdBinary)
    const table = markdown(report)
    console.log(table)
    if (values['no-save'] !== true && profileDir === undefined) save(report, table, quick)
    failed = false
  } finally {
    for (const signal of Object.keys(signalExitCodes)) process.removeListener(signal, onSignal)
    await cleanUp(failed)
  }
  if (values.profile !== undefined) console.error(`CPU profiles of the raftlog nodes: ${resolve(values.profile)}`)
}

function reportOf(run: ClusterBenchRun, clusters: KvCluster[], workload: WorkloadSettings, command: string, etcdBinary: string | undefined): ClusterBenchReport {
  return {
    date: new Date().toISOString(),
    command,
    node: process.version,
    cores: availableParallelism(),
    clockTicksPerSecond: clockTicksPerSecond(),
    etcdVersion: etcdBinary === undefined ? null : etcdVersion(etcdBinary),
    systems: clusters.map((cluster) => ({ system: cluster.system, description: cluster.description })),
    leaders: run.leaders,
    settings: { ...workload, putKeySpace, getKeyCount },
    idle: run.idle,
    rows: run.rows,
  }
}

function save(report: ClusterBenchReport, table: string, quick: boolean): void {
  const results = join(packageRoot(import.meta.url), 'bench', 'results')
  mkdirSync(results, { recursive: true })
  const stamp = `cluster-${report.date.slice(0, 10)}${quick ? '-quick' : ''}${report.etcdVersion === null ? '-raftlog-only' : ''}`
  writeFileSync(join(results, `${stamp}.json`), `${JSON.stringify(report, null, 2)}\n`)
  writeFileSync(join(results, `${stamp}.md`), `${table}\n`)
  writeFileSync(join(results, `${stamp}.svg`), clusterChartSvg(report))
  console.error(`results: bench/results/${stamp}.json, .md, .svg`)
}

main().catch((error: unknown) => {
  const usage = error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') === true
  console.error(usage ? `${(error as Error).message}\n\n${help}` : error)
  process.exitCode = usage ? 2 : 1
})
