import type { EngineFactory } from './engines/engine.js'
import { measureMachineLimits } from './machine-limits.js'
import { runManyGroups, type ManyGroupsSizes } from './many-groups.js'
import { runRaftlogOnly, type RaftlogOnlySizes } from './raftlog-only.js'
import type { BenchReport } from './report.js'
import { appendCase, getCases, type BenchSettings, type CaseResult } from './side-by-side.js'

export function raftlogOnlySizesFor(mode: 'full' | 'quick' | 'tiny'): RaftlogOnlySizes {
  if (mode === 'tiny') return { logBytes: 4 * 2 ** 20, indexEntries: 20_000, openRepeats: 1, flushRepeats: 20 }
  if (mode === 'quick') return { logBytes: 128 * 2 ** 20, indexEntries: 500_000, openRepeats: 3, flushRepeats: 500 }
  return { logBytes: 2 ** 30, indexEntries: 10_000_000, openRepeats: 7, flushRepeats: 2000 }
}

export function settingsFor(mode: 'full' | 'quick' | 'tiny', workDir: string): BenchSettings {
  if (mode === 'tiny') return { quick: true, timeMs: 20, rounds: 1, payloadSizes: [100], batchSizes: [1, 64], getLogEntries: 2000, workDir }
  if (mode === 'quick') return { quick: true, timeMs: 150, rounds: 1, payloadSizes: [100, 1024, 16384], batchSizes: [1, 64, 1024], getLogEntries: 50_000, workDir }
  return { quick: false, timeMs: 600, rounds: 3, payloadSizes: [100, 1024, 16384], batchSizes: [1, 64, 1024], getLogEntries: 500_000, workDir }
}

/** Runs every case for every engine; `progress` hears one line per case. */
export async function runBench(
  engines: EngineFactory[],
  settings: BenchSettings,
  options: { command: string; machine: boolean; raftlogOnly: RaftlogOnlySizes | undefined; manyGroups?: ManyGroupsSizes; progress: (line: string) => void },
): Promise<BenchReport> {
  const cases: CaseResult[] = []
  for (const durable of [false, true]) {
    for (const size of settings.payloadSizes) {
      for (const batch of settings.batchSizes) {
        const results = await appendCase(engines, settings, size, batch, durable)
        cases.push(...results)
        options.progress(`${results[0]?.case}: ${results.map((r) => `${r.engine} ${Math.round(r.entriesPerSecond)}/s`).join(', ')}`)
      }
    }
  }
  const reads = await getCases(engines, settings)
  cases.push(...reads)
  options.progress(`get: ${reads.map((r) => `${r.engine} ${Math.round(r.entriesPerSecond)}/s`).join(', ')}`)
  const machine = options.machine ? measureMachineLimits(settings.workDir, settings.quick) : { fdatasync4KiBp50Ms: NaN, fdatasync4KiBp99Ms: NaN, sequentialWriteMBps: NaN, memcpyGBps: NaN, crc32: [] }
  if (options.machine) options.progress('machine limits measured')
  const raftlogOnly = options.raftlogOnly === undefined ? undefined : await runRaftlogOnly(settings.workDir, options.raftlogOnly)
  if (raftlogOnly !== undefined) options.progress('raftlog-only cases measured')
  const manyGroups = options.manyGroups === undefined ? undefined : await runManyGroups(settings.workDir, options.manyGroups)
  if (manyGroups !== undefined) options.progress('many groups: engine against one RaftLog per group measured')
  return { date: new Date().toISOString(), command: options.command, node: process.version, machine, cases, raftlogOnly, manyGroups }
}
