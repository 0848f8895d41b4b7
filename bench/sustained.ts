// npm run bench:sustained: durable appends held for seconds, raftlog beside raw fs. The main bench
// runs each case for 150-600 ms; a log written for longer meets what a short run never does: new
// page-cache pages running out, segment rotations, the spare's preparation. Each engine writes in
// turn, the order alternating each round, in one run; ratios are raftlog ÷ raw fs, per round.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { benchArgs, positiveOption } from './bench-args.js'
import type { EngineFactory } from './engines/engine.js'
import { raftlogEngine } from './engines/raftlog-engine.js'
import { rawFsEngine } from './engines/raw-fs-engine.js'
import { percentile } from './stats.js'

const usage = `Usage: npm run bench:sustained [-- --seconds S] [-- --rounds N] [-- --dir D]

Durable appends (append a batch, then flush()) held for S seconds per engine and case (default 4),
raftlog and raw fs taking turns, N rounds (default 2), in D (default the system's temporary
directory). Cases: 100 B x 1,024, 1 KiB x 1,024, 16 KiB x 64.`

const values = benchArgs(usage, { seconds: { type: 'string' }, rounds: { type: 'string' }, dir: { type: 'string' } })
const seconds = positiveOption(usage, 'seconds', values.seconds, 4)
const rounds = positiveOption(usage, 'rounds', values.rounds, 2, true)
const workDir = values.dir ?? tmpdir()
const cases = [
  { size: 100, batch: 1024 },
  { size: 1024, batch: 1024 },
  { size: 16384, batch: 64 },
]

interface Run {
  entriesPerSecond: number
  p50Ms: number
  p99Ms: number
}

async function run(factory: EngineFactory, size: number, batch: number): Promise<Run> {
  const dir = mkdtempSync(join(workDir, 'sustained-'))
  const engine = await factory.open(dir, { durable: true })
  try {
    const entries = Array.from({ length: batch }, (_, i) => new Uint8Array(size).fill(i))
    const latencies: number[] = []
    const started = performance.now()
    const end = started + seconds * 1000
    while (performance.now() < end) {
      const at = performance.now()
      await engine.appendBatch(entries, 1)
      await engine.flush()
      latencies.push(performance.now() - at)
    }
    const elapsed = (performance.now() - started) / 1000
    return { entriesPerSecond: (latencies.length * batch) / elapsed, p50Ms: percentile(latencies, 0.5), p99Ms: percentile(latencies, 0.99) }
  } finally {
    await engine.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

const format = (n: number): string => Math.round(n).toLocaleString('en-US')
console.log(`Durable appends held for ${seconds} s per engine, case and round (${rounds === 1 ? '1 round' : `${rounds} rounds, order alternating`}).\n`)
console.log('| case | round | raftlog entries/s | p50 / p99 ms | raw fs entries/s | p50 / p99 ms | raftlog ÷ raw fs |')
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |')
for (const { size, batch } of cases) {
  for (let round = 1; round <= rounds; round++) {
    const order = round % 2 === 1 ? [raftlogEngine, rawFsEngine] : [rawFsEngine, raftlogEngine]
    const results = new Map<string, Run>()
    for (const factory of order) results.set(factory.name, await run(factory, size, batch))
    const ours = results.get(raftlogEngine.name) as Run
    const theirs = results.get(rawFsEngine.name) as Run
    const label = `${size < 1024 ? `${size} B` : `${size / 1024} KiB`} × ${batch.toLocaleString('en-US')}`
    console.log(
      `| ${label} | ${round} | ${format(ours.entriesPerSecond)} | ${ours.p50Ms.toFixed(2)} / ${ours.p99Ms.toFixed(2)} | ${format(theirs.entriesPerSecond)} | ${theirs.p50Ms.toFixed(2)} / ${theirs.p99Ms.toFixed(2)} | ${(ours.entriesPerSecond / theirs.entriesPerSecond).toFixed(2)}× |`,
    )
  }
}
