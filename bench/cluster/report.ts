// The cluster benchmark's results: their JSON shape, raftlog ÷ etcd ratios and the Markdown tables.
import type { SystemName } from './kv-cluster.js'
import { caseName, type BenchCase, type WorkloadSettings } from './workload.js'

export interface RowResult extends BenchCase {
  round: number
  system: SystemName
  ops: number
  errors: number
  firstError?: string
  seconds: number
  opsPerSecond: number
  p50Ms: number
  p99Ms: number
  p999Ms: number
  /** utime + stime of the three server processes over the row, per answered operation. */
  serverCpuMsPerOp: number
  /** The driver's own CPU (both clients live in it) over the row, per answered operation. */
  driverCpuMsPerOp: number
}

export interface IdleResult {
  round: number
  system: SystemName
  seconds: number
  /** CPU time of the three server processes over wall time: 1 is one core busy. */
  coresUsed: number
}

export interface ClusterBenchReport {
  date: string
  command: string
  node: string
  cores: number
  clockTicksPerSecond: number
  /** null when etcd was not run (missing or --skip-etcd). */
  etcdVersion: string | null
  systems: { system: SystemName; description: string }[]
  leaders: { round: number; system: SystemName; leader: string }[]
  settings: WorkloadSettings & { putKeySpace: number; getKeyCount: number }
  idle: IdleResult[]
  rows: RowResult[]
}

export interface RowRatios extends BenchCase {
  round: number
  /** raftlog ÷ etcd: above 1 raftlog is faster. */
  opsPerSecond: number
  /** raftlog ÷ etcd: below 1 raftlog answers sooner. */
  p50: number
  p99: number
  /** raftlog ÷ etcd: below 1 raftlog spends less. */
  serverCpuPerOp: number
}

function sameCase(a: BenchCase, b: BenchCase): boolean {
  return a.operation === b.operation && a.valueBytes === b.valueBytes && a.clients === b.clients && (a.putsPerSecond ?? 0) === (b.putsPerSecond ?? 0) && (a.contended ?? false) === (b.contended ?? false)
}

/** raftlog ÷ etcd for every case of every round that ran both. */
export function rowRatios(rows: readonly RowResult[]): RowRatios[] {
  const out: RowRatios[] = []
  for (const ours of rows.filter((row) => row.system === 'raftlog')) {
    const theirs = rows.find((row) => row.system === 'etcd' && row.round === ours.round && sameCase(row, ours))
    if (theirs === undefined) continue
    out.push({
      round: ours.round,
      operation: ours.operation,
      valueBytes: ours.valueBytes,
      clients: ours.clients,
      ...(ours.putsPerSecond === undefined ? {} : { putsPerSecond: ours.putsPerSecond }),
      ...(ours.contended === undefined ? {} : { contended: ours.contended }),
      opsPerSecond: ours.opsPerSecond / theirs.opsPerSecond,
      p50: ours.p50Ms / theirs.p50Ms,
      p99: ours.p99Ms / theirs.p99Ms,
      serverCpuPerOp: ours.serverCpuMsPerOp / theirs.serverCpuMsPerOp,
    })
  }
  return out
}

export interface CaseSummary extends BenchCase {
  /** Mean over rounds, with the lowest and highest round, per system. */
  opsPerSecond: Partial<Record<SystemName, { mean: number; min: number; max: number }>>
  /** Lowest and highest raftlog ÷ etcd over rounds; undefined without etcd. */
  ratios: { opsPerSecond: [number, number]; p50: [number, number]; p99: [number, number]; serverCpuPerOp: [number, number] } | undefined
}

/** One entry per case, in the order run, over all rounds. */
export function summarize(report: ClusterBenchReport): CaseSummary[] {
  const ratios = rowRatios(report.rows)
  return report.settings.cases.map((benchCase) => {
    const opsPerSecond: CaseSummary['opsPerSecond'] = {}
    for (const system of ['raftlog', 'etcd'] as const) {
      const values = report.rows.filter((row) => row.system === system && sameCase(row, benchCase)).map((row) => row.opsPerSecond)
      if (values.length > 0) opsPerSecond[system] = { mean: values.reduce((a, b) => a + b, 0) / values.length, min: Math.min(...values), max: Math.max(...values) }
    }
    const mine = ratios.filter((ratio) => sameCase(ratio, benchCase))
    const range = (pick: (ratio: RowRatios) => number): [number, number] => [Math.min(...mine.map(pick)), Math.max(...mine.map(pick))]
    return {
      ...benchCase,
      opsPerSecond,
      ratios: mine.length === 0 ? undefined : { opsPerSecond: range((r) => r.opsPerSecond), p50: range((r) => r.p50), p99: range((r) => r.p99), serverCpuPerOp: range((r) => r.serverCpuPerOp) },
    }
  })
}

export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return '-'
  if (value >= 100) return Math.round(value).toLocaleString('en-US')
  if (value >= 1) return value.toFixed(2)
  return value.toPrecision(2)
}

function times(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(2)}×` : '-'
}

function timesRange([low, high]: [number, number]): string {
  return low.toFixed(2) === high.toFixed(2) ? times(low) : `${low.toFixed(2)}–${high.toFixed(2)}×`
}

function table(header: string[], alignRight: boolean[], rows: string[][]): string[] {
  const rule = header.map((_, i) => (alignRight[i] === true ? '---:' : '---'))
  return [`| ${header.join(' | ')} |`, `| ${rule.join(' | ')} |`, ...rows.map((row) => `| ${row.join(' | ')} |`)]
}

export function markdown(report: ClusterBenchReport): string {
  const withEtcd = report.etcdVersion !== null
  const s = report.settings
  const lines = [
    `Command: \`${report.command}\` (${report.date}, Node ${report.node}, ${report.cores} cores${withEtcd ? `, etcd ${report.etcdVersion}` : ', without etcd'})`,
    '',
    ...report.systems.map((system) => `- ${system.system}: ${system.description}.`),
    `- Workload: closed loops in one Node driver holding both clients; ${s.secondsPerRow} s per row, ${s.rounds} round${s.rounds === 1 ? '' : 's'}` +
      `${withEtcd ? ', each case run on raftlog then on etcd' : ''}, after a ${s.warmUpSeconds} s warm-up${s.warmCaseSeconds > 0 ? `, and each case run unmeasured for ${s.warmCaseSeconds} s on a cluster just before its first row there (a Node process reaches its speed on a path after a few thousand calls of it)` : ''}. Puts cycle over ${s.putKeySpace.toLocaleString('en-US')} keys; ` +
      `gets and ranges read ${s.getKeyCount.toLocaleString('en-US')} keys written before the first round; txns compare one of those keys' value and put it back.`,
    `- Leaders at the start of each round: ${report.leaders.map((l) => `${l.system} round ${l.round}: ${l.leader}`).join('; ')}.`,
    `- Server CPU: utime + stime of the 3 server processes over the row (/proc/<pid>/stat), per answered operation${withEtcd ? '; the other cluster idles meanwhile' : ''}. ` +
      'Driver CPU: the driver process (both clients), per operation.',
  ]
  if (withEtcd) lines.push('- × columns: raftlog ÷ etcd. ops/s above 1×: raftlog is faster; p50, p99 and CPU/op below 1×: raftlog is better.')
  if (report.rows.some((row) => row.operation === 'watch' || row.operation === 'lock')) {
    lines.push(
      '- Watch rows: clients = watchers of one key (10 to a gRPC stream, the streams spread over the members, followers first), one writer putting the key at the leader; ops/s = events delivered per second, latency = from the put\'s send to the event\'s arrival at its watcher, server CPU per event. ' +
        'Lock rows: each client has its own lease and lock and runs v3lock Lock then Unlock at the leader; one op = one acquire and release. Both over raw gRPC with etcd\'s .proto files, the same client code for both systems.',
    )
  }
  if (withEtcd) {
    lines.push('', `Summary (ops/s: mean over rounds; ratios: lowest–highest over rounds):`, '')
    lines.push(
      ...table(
        ['case', 'clients', 'raftlog ops/s', 'etcd ops/s', 'ops/s ×', 'p50 ×', 'p99 ×', 'server CPU/op ×'],
        [false, true, true, true, true, true, true, true],
        summarize(report).map((c) => [
          caseName(c),
          String(c.clients),
          formatNumber(c.opsPerSecond.raftlog?.mean ?? Number.NaN),
          formatNumber(c.opsPerSecond.etcd?.mean ?? Number.NaN),
          c.ratios === undefined ? '-' : timesRange(c.ratios.opsPerSecond),
          c.ratios === undefined ? '-' : timesRange(c.ratios.p50),
          c.ratios === undefined ? '-' : timesRange(c.ratios.p99),
          c.ratios === undefined ? '-' : timesRange(c.ratios.serverCpuPerOp),
        ]),
      ),
    )
  }
  const idleWindow = withEtcd ? ', both clusters measured in the same window' : ''
  lines.push('', `Idle CPU of each 3-member cluster (cores used over ${s.idleSeconds} s with no load${idleWindow}):`, '')
  const rounds = [...new Set(report.idle.map((idle) => idle.round))]
  lines.push(
    ...table(
      withEtcd ? ['round', 'raftlog cores', 'etcd cores', 'raftlog ×'] : ['round', 'raftlog cores'],
      [false, true, true, true],
      rounds.map((round) => {
        const cores = (system: SystemName): number => report.idle.find((idle) => idle.round === round && idle.system === system)?.coresUsed ?? Number.NaN
        return withEtcd ? [String(round), formatNumber(cores('raftlog')), formatNumber(cores('etcd')), times(cores('raftlog') / cores('etcd'))] : [String(round), formatNumber(cores('raftlog'))]
      }),
    ),
  )
  lines.push('', 'Every row, in the order run:', '')
  const ratioOf = new Map(rowRatios(report.rows).map((ratio) => [`${ratio.round}|${caseName(ratio)}|${ratio.clients}`, ratio]))
  lines.push(
    ...table(
      ['round', 'case', 'clients', 'system', 'ops/s', 'p50 ms', 'p99 ms', 'p999 ms', 'server CPU ms/op', 'driver CPU ms/op', ...(withEtcd ? ['ops/s ×', 'p50 ×', 'CPU/op ×'] : [])],
      [false, false, true, false, true, true, true, true, true, true, true, true, true],
      report.rows.map((row) => {
        const ratio = row.system === 'etcd' ? ratioOf.get(`${row.round}|${caseName(row)}|${row.clients}`) : undefined
        const ratios = withEtcd ? (ratio === undefined ? ['', '', ''] : [times(ratio.opsPerSecond), times(ratio.p50), times(ratio.serverCpuPerOp)]) : []
        const n = [row.opsPerSecond, row.p50Ms, row.p99Ms, row.p999Ms, row.serverCpuMsPerOp, row.driverCpuMsPerOp].map(formatNumber)
        return [String(row.round), caseName(row), String(row.clients), row.system, ...n, ...ratios]
      }),
    ),
  )
  const failed = report.rows.filter((row) => row.errors > 0)
  if (failed.length > 0) {
    lines.push('', 'Rows with failed operations (left out of ops/s and latencies):')
    for (const row of failed) lines.push(`- round ${row.round}, ${caseName(row)}, ${row.clients} clients, ${row.system}: ${row.errors} failed, first: ${row.firstError}`)
  }
  return lines.join('\n')
}
