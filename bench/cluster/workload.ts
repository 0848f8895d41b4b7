// The cases every cluster runs, and the keys and values they use: the same for raftlog and etcd.
import { watchValueBytes } from './coordination.js'

export interface BenchCase {
  operation: 'put' | 'get' | 'range' | 'txn' | 'watch' | 'lock'
  /** The size of the values put, or of the values read back. */
  valueBytes: number
  /** Client loops; for watch rows, the watchers (one writer puts). */
  clients: number
  /** Watch rows: the writer's puts per second (0: closed loop, as fast as the puts are answered). */
  putsPerSecond?: number
  /** Lock rows: every client takes the same lock (else each its own). */
  contended?: boolean
}

export interface WorkloadSettings {
  secondsPerRow: number
  rounds: number
  warmUpSeconds: number
  /**
   * Each case also runs unmeasured for this long on each cluster just before its first row: a
   * Node process's code reaches its speed only after a few thousand calls of each path (the JIT),
   * and a path first met in its row was measured half cold. 0: no such run.
   */
  warmCaseSeconds: number
  /** Both clusters idle, measured together before each round. */
  idleSeconds: number
  cases: BenchCase[]
}

const fullClientCounts = [1, 16, 128]
const quickClientCounts = [1, 128]
/** Ranges and transactions run at every count, --quick too. */
const etcdCallClientCounts = [1, 16, 128]
const putValueBytes = [100, 1024]
/** Lock rows (acquire + release, each client its own lock and lease) at every count, --quick too. */
const lockClientCounts = [1, 16, 128]
/** Watch rows: one watcher and a closed-loop writer (events/s), 1,000 watchers and a paced writer (latency). */
const watchCases: { watchers: number; putsPerSecond: number }[] = [
  { watchers: 1, putsPerSecond: 0 },
  { watchers: 1000, putsPerSecond: 20 },
]
/** Watch rows run at least this long: a paced writer puts 20 a second, and a p99 needs a hundred puts. */
const minWatchSeconds = 5
/** Values the get keys hold. */
export const getValueBytes = 100

/**
 * Puts cycle over this many keys: both stores keep a bounded amount of live data however fast
 * they go (etcd still keeps every revision, as it does by default).
 */
export const putKeySpace = 10_000
/** Keys that gets read, written once before the first round. */
export const getKeyCount = 1000
/** Client loops that write the get keys and warm up a cluster. */
export const setupConcurrency = 16
/** Wait after the last load before the idle measurement: answers and flushes in flight settle. */
export const idleSettleMs = 1000

/** Seconds a row of `benchCase` runs when rows run `secondsPerRow`. */
export function rowSeconds(benchCase: BenchCase, secondsPerRow: number): number {
  return benchCase.operation === 'watch' ? Math.max(secondsPerRow, minWatchSeconds) : secondsPerRow
}

export function workloadFor(options: { quick: boolean; seconds?: number; rounds?: number }): WorkloadSettings {
  const clientCounts = options.quick ? quickClientCounts : fullClientCounts
  const sizes = options.quick ? putValueBytes.slice(0, 1) : putValueBytes
  const cases: BenchCase[] = [
    ...sizes.flatMap((valueBytes) => clientCounts.map((clients): BenchCase => ({ operation: 'put', valueBytes, clients }))),
    ...clientCounts.map((clients): BenchCase => ({ operation: 'get', valueBytes: getValueBytes, clients })),
    ...etcdCallClientCounts.map((clients): BenchCase => ({ operation: 'range', valueBytes: getValueBytes, clients })),
    ...etcdCallClientCounts.map((clients): BenchCase => ({ operation: 'txn', valueBytes: getValueBytes, clients })),
    ...watchCases.map(({ watchers, putsPerSecond }): BenchCase => ({ operation: 'watch', valueBytes: watchValueBytes, clients: watchers, putsPerSecond })),
    ...lockClientCounts.map((clients): BenchCase => ({ operation: 'lock', valueBytes: 0, clients, contended: false })),
  ]
  return {
    secondsPerRow: options.seconds ?? (options.quick ? 1 : 3),
    rounds: options.rounds ?? (options.quick ? 1 : 2),
    warmUpSeconds: options.quick ? 1 : 3,
    warmCaseSeconds: options.quick ? 1 : 2,
    idleSeconds: options.quick ? 2 : 5,
    cases,
  }
}

/** Fixed-width keys: every key has the same size in both stores. */
export function putKey(n: number): string {
  return `put-${String(n % putKeySpace).padStart(5, '0')}`
}

export function getKey(n: number): string {
  return `get-${String(n % getKeyCount).padStart(5, '0')}`
}

/** "put 100 B", "get 100 B", "range 100 B", "txn 100 B", "watch 100 B, 20 puts/s", "lock+unlock". */
export function caseName(benchCase: Pick<BenchCase, 'operation' | 'valueBytes' | 'putsPerSecond' | 'contended'>): string {
  if (benchCase.operation === 'lock') return benchCase.contended === true ? 'lock+unlock, one lock' : 'lock+unlock'
  if (benchCase.operation === 'watch') return `watch ${benchCase.valueBytes} B, ${(benchCase.putsPerSecond ?? 0) > 0 ? `${benchCase.putsPerSecond} puts/s` : 'closed-loop puts'}`
  const size = benchCase.valueBytes % 1024 === 0 ? `${benchCase.valueBytes / 1024} KiB` : `${benchCase.valueBytes} B`
  return `${benchCase.operation} ${size}`
}

/** A value of `bytes` ASCII bytes (one byte per character in UTF-8). */
export function valueOf(bytes: number): string {
  return 'v'.repeat(bytes)
}
