// The benchmark on tiny sizes: every engine produces numbers and reads back what it wrote, so
// the bench cannot silently rot. No timing is asserted.
import { describe, expect, it } from 'vitest'
import { allEngines } from '../../bench/engines/all.js'
import { markdown, ratios, svg } from '../../bench/report.js'
import { manyGroupsSizesFor } from '../../bench/many-groups.js'
import { raftlogOnlySizesFor, runBench, settingsFor } from '../../bench/run-bench.js'
import { tempDir } from '../helpers/temp-dir.js'

describe('npm run bench, on tiny sizes', () => {
  it('runs every case for every engine, each reading back exactly what it wrote', async () => {
    const report = await runBench(allEngines, settingsFor('tiny', tempDir()), {
      command: 'test',
      machine: false,
      raftlogOnly: raftlogOnlySizesFor('tiny'),
      manyGroups: manyGroupsSizesFor('tiny'),
      progress: () => {},
    })
    const engines = allEngines.map((engine) => engine.name)
    const caseNames = [...new Set(report.cases.map((c) => c.case))]
    // 1 size x 2 batches x 2 modes of appends, then sequential and random gets.
    expect(caseNames.length).toBe(6)
    for (const name of caseNames) {
      expect(report.cases.filter((c) => c.case === name).map((c) => c.engine).sort()).toEqual([...engines].sort())
    }
    for (const row of report.cases) {
      expect(row.entriesPerSecond, `${row.case} ${row.engine}`).toBeGreaterThan(0)
      expect(Number.isFinite(row.p99Ms), `${row.case} ${row.engine}`).toBe(true)
      expect(row.mismatches, `${row.case} ${row.engine} read back wrong entries`).toBe(0)
      // Every append case says how many bytes went toward the device per byte appended.
      if (row.kind === 'append') expect(Number.isFinite(row.writeAmplification), `${row.case} ${row.engine}`).toBe(true)
    }
    // A durable append writes at least what it appends.
    for (const row of report.cases.filter((c) => c.case.endsWith('durable') && c.engine === 'raftlog')) expect(row.writeAmplification).toBeGreaterThanOrEqual(1)
    expect(ratios(report.cases).length).toBe(caseNames.length * (engines.length - 1))
    expect(report.raftlogOnly!.openCleanMs).toBeGreaterThan(0)
    expect(report.raftlogOnly!.cutBytesAfterCrash).toBeGreaterThan(0)
    expect(report.raftlogOnly!.indexBytesPerEntry).toBeGreaterThan(0)
    expect(report.raftlogOnly!.flushSyncP50Ms).toBeGreaterThan(0)
    expect(report.raftlogOnly!.flushAsyncP50Ms).toBeGreaterThan(0)
    expect(markdown(report)).toMatch(/\| append 100 B batch 64 durable \| lmdb \|/)
    expect(markdown(report)).toMatch(/\| case \| engine \| entries\/s \| MB\/s \| p50 ms \| p99 ms \| write amp\. \| raftlog × \|/)
    // The engine and one RaftLog per group, at each group count.
    expect(report.manyGroups!.map((row) => `${row.groups} ${row.design}`)).toEqual(['1 engine', '1 RaftLog per group', '8 engine', '8 RaftLog per group'])
    for (const row of report.manyGroups!) expect(row.appendsPerSecond).toBeGreaterThan(0)
    expect(markdown(report)).toMatch(/\| 8 \| RaftLog per group \|/)
    expect(svg(report)).toMatch(/^<svg[\s\S]*<\/svg>$/)
  })
})
