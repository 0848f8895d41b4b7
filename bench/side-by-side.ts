// Append and read cases, every engine on the same entries in the same run. Engines take turns
// within each round (the order rotates), so machine drift hits them all alike.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { Bench } from 'tinybench'
import type { EngineFactory, LogEngine } from './engines/engine.js'

export interface BenchSettings {
  quick: boolean
  /** Milliseconds each engine runs per case and round. */
  timeMs: number
  rounds: number
  payloadSizes: number[]
  batchSizes: number[]
  getLogEntries: number
  /** Where logs are made; each case's directories are removed after it. */
  workDir: string
}

export interface CaseResult {
  case: string
  kind: 'append' | 'get'
  engine: string
  entriesPerSecond: number
  megabytesPerSecond: number
  /** Per batch for appends, per get for reads. */
  p50Ms: number
  p99Ms: number
  samples: number
  /** Entries read back after the run that did not match what was written. */
  mismatches: number
  /**
   * Appends: bytes the process sent toward the device (write_bytes of /proc/self/io, counted when
   * pages are dirtied: every rewrite of a page after it was written back counts again; the
   * file system's journal, written by its own thread, is not in it) per payload byte appended.
   */
  writeAmplification?: number
}

const poolEntries = 4096

/** Payload of entry `index` from a pool of random buffers: every engine writes the same bytes. */
class PayloadPool {
  private readonly pool: Uint8Array[]
  constructor(size: number) {
    this.pool = Array.from({ length: poolEntries }, (_, i) => {
      const bytes = new Uint8Array(size)
      let state = (i + 1) * 2654435761
      for (let k = 0; k < size; k++) {
        state = (state * 1103515245 + 12345) >>> 0
        bytes[k] = state >>> 24
      }
      return bytes
    })
  }
  at(index: number): Uint8Array {
    return this.pool[index % poolEntries] as Uint8Array
  }
  batch(firstIndex: number, count: number): Uint8Array[] {
    return Array.from({ length: count }, (_, i) => this.at(firstIndex + i))
  }
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(b)
}

/** Reads back `samples` entries spread over the log and counts those that differ. */
function countMismatches(engine: LogEngine, pool: PayloadPool, samples: number): number {
  const last = engine.lastIndex()
  let mismatches = 0
  for (let i = 0; i < samples && last > 0; i++) {
    const index = 1 + Math.floor(((i + 0.5) / samples) * last)
    if (!sameBytes(engine.get(index), pool.at(index))) mismatches++
  }
  return mismatches
}

async function openAll(engines: EngineFactory[], root: string, durable: boolean): Promise<LogEngine[]> {
  const opened: LogEngine[] = []
  for (const factory of engines) opened.push(await factory.open(mkdtempSync(join(root, `${factory.name.replace(/\W/g, '')}-`)), { durable }))
  return opened
}

function rotated<T>(items: T[], by: number): T[] {
  const shift = by % items.length
  return [...items.slice(shift), ...items.slice(0, shift)]
}

interface Sample {
  throughputs: number[]
  latencies: number[]
  /** write_bytes of /proc/self/io while this engine's task ran, and the entries it appended then. */
  writtenBytes: number
  appendedEntries: number
}

/** Bytes this process has caused to be sent to the storage layer (/proc/self/io write_bytes). */
export function deviceWriteBytes(): number {
  const match = /^write_bytes: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'))
  return match === null ? Number.NaN : Number(match[1])
}

async function runRounds(
  engines: LogEngine[],
  settings: BenchSettings,
  entriesPerIteration: number,
  task: (engine: LogEngine) => (() => void) | (() => Promise<void>),
): Promise<Map<string, Sample>> {
  const samples = new Map<string, Sample>(engines.map((engine) => [engine.name, { throughputs: [], latencies: [], writtenBytes: 0, appendedEntries: 0 }]))
  for (let round = 0; round < settings.rounds; round++) {
    const bench = new Bench({ time: settings.timeMs, iterations: 3, warmupTime: Math.min(50, settings.timeMs / 4), warmupIterations: 1, retainSamples: true })
    for (const engine of rotated(engines, round)) {
      // Engines take turns, each task's phases run whole: what the process writes meanwhile is its.
      const sample = samples.get(engine.name) as Sample
      let start = { bytes: 0, entries: 0 }
      bench.add(engine.name, task(engine), {
        beforeAll: () => {
          start = { bytes: deviceWriteBytes(), entries: engine.lastIndex() }
        },
        afterAll: () => {
          sample.writtenBytes += deviceWriteBytes() - start.bytes
          sample.appendedEntries += engine.lastIndex() - start.entries
        },
      })
    }
    await bench.run()
    for (const benchTask of bench.tasks) {
      const result = benchTask.result
      if (result.state !== 'completed') throw new Error(`${benchTask.name} failed: ${result.state === 'errored' ? String(result.error) : result.state}`)
      const sample = samples.get(benchTask.name) as Sample
      sample.throughputs.push((entriesPerIteration * 1000) / result.latency.mean)
      for (const latency of result.latency.samples ?? [result.latency.p50]) sample.latencies.push(latency)
    }
  }
  return samples
}

function summarize(caseName: string, kind: 'append' | 'get', engine: string, sample: Sample, entryBytes: number, entriesPerIteration: number, mismatches: number, latencyPerEntry: boolean): CaseResult {
  const throughputs = [...sample.throughputs].sort((a, b) => a - b)
  const entriesPerSecond = throughputs[Math.floor(throughputs.length / 2)] as number
  const sorted = [...sample.latencies].sort((a, b) => a - b)
  const scale = latencyPerEntry ? entriesPerIteration : 1
  return {
    case: caseName,
    kind,
    engine,
    entriesPerSecond,
    megabytesPerSecond: (entriesPerSecond * entryBytes) / 1e6,
    p50Ms: (sorted[Math.floor(sorted.length * 0.5)] ?? Number.NaN) / scale,
    p99Ms: (sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? Number.NaN) / scale,
    samples: sorted.length,
    mismatches,
    ...(kind === 'append' && sample.appendedEntries > 0 ? { writeAmplification: sample.writtenBytes / (sample.appendedEntries * entryBytes) } : {}),
  }
}

/** Appends batches of `batch` entries of `size` bytes, with or without a flush per batch. */
export async function appendCase(engines: EngineFactory[], settings: BenchSettings, size: number, batch: number, durable: boolean): Promise<CaseResult[]> {
  const name = `append ${size < 1024 ? `${size} B` : `${size / 1024} KiB`} batch ${batch} ${durable ? 'durable' : 'no-sync'}`
  const root = mkdtempSync(join(settings.workDir, 'append-'))
  const pool = new PayloadPool(size)
  const opened = await openAll(engines, root, durable)
  try {
    const samples = await runRounds(opened, settings, batch, (engine) =>
      engine.asyncAppend
        ? async () => {
            await engine.appendBatch(pool.batch(engine.lastIndex() + 1, batch), 1)
            await engine.flush()
          }
        : durable
          ? async () => {
              engine.appendBatch(pool.batch(engine.lastIndex() + 1, batch), 1)
              await engine.flush()
            }
          : () => {
              engine.appendBatch(pool.batch(engine.lastIndex() + 1, batch), 1)
            },
    )
    const results: CaseResult[] = []
    for (const engine of opened) {
      await engine.flush()
      results.push(summarize(name, 'append', engine.name, samples.get(engine.name) as Sample, size, batch, countMismatches(engine, pool, 200), false))
    }
    return results
  } finally {
    for (const engine of opened) await engine.close()
    rmSync(root, { recursive: true, force: true })
  }
}

/** Sequential and random reads of 1 KiB entries from a log of settings.getLogEntries entries. */
export async function getCases(engines: EngineFactory[], settings: BenchSettings): Promise<CaseResult[]> {
  const size = 1024
  const readsPerIteration = 1000
  const root = mkdtempSync(join(settings.workDir, 'get-'))
  const pool = new PayloadPool(size)
  const opened = await openAll(engines, root, false)
  try {
    for (const engine of opened) {
      while (engine.lastIndex() < settings.getLogEntries) {
        const count = Math.min(1000, settings.getLogEntries - engine.lastIndex())
        await engine.appendBatch(pool.batch(engine.lastIndex() + 1, count), 1)
      }
      await engine.flush()
      countMismatches(engine, pool, 2000) // first reads (raftlog checks each sealed segment once)
    }
    const results: CaseResult[] = []
    for (const order of ['sequential', 'random'] as const) {
      const cursors = new Map<string, number>(opened.map((engine) => [engine.name, 0]))
      const samples = await runRounds(opened, settings, readsPerIteration, (engine) => {
        const total = engine.lastIndex()
        const next = (): number => {
          const cursor = (cursors.get(engine.name) as number) + 1
          cursors.set(engine.name, cursor)
          // A multiplicative hash spreads the cursor over the whole log for random order.
          return order === 'sequential' ? 1 + (cursor % total) : 1 + ((cursor * 2654435761) % total)
        }
        return () => {
          for (let i = 0; i < readsPerIteration; i++) engine.get(next())
        }
      })
      for (const engine of opened) {
        const name = `get ${order} 1 KiB of ${settings.getLogEntries} entries`
        results.push(summarize(name, 'get', engine.name, samples.get(engine.name) as Sample, size, readsPerIteration, countMismatches(engine, pool, 500), true))
      }
    }
    return results
  } finally {
    for (const engine of opened) await engine.close()
    rmSync(root, { recursive: true, force: true })
  }
}
