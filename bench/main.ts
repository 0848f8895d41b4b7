// npm run bench [-- --quick] [-- --engines raftlog,lmdb]: every case, every engine, one run.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { allEngines } from './engines/all.js'
import { markdown, svg } from './report.js'
import { manyGroupsSizesFor } from './many-groups.js'
import { raftlogOnlySizesFor, runBench, settingsFor } from './run-bench.js'

const help = `Usage: npm run bench [-- --quick] [-- --engines raftlog,raw fs,lmdb,sqlite,classic-level] [-- --dir D]

Runs every benchmark case for raftlog and its peers side by side and prints a Markdown table of
entries/s, MB/s, latency p50/p99 and the ratio of raftlog to each peer. Writes
bench/results/<date>.json and bench/results/<date>.svg (the chart of ratios).

  --quick      short runs and small logs: under two minutes
  --engines    comma-separated engine names (default: all)
  --dir D      where to make the logs (default: the system temp directory)
  --no-save    do not write the results files`

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { quick: { type: 'boolean' }, engines: { type: 'string' }, dir: { type: 'string' }, 'no-save': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  })
  if (values.help === true) {
    console.log(help)
    return
  }
  const wanted = values.engines?.split(',').map((name) => name.trim())
  const engines = wanted === undefined ? allEngines : allEngines.filter((engine) => wanted.includes(engine.name))
  if (engines.length === 0 || engines[0]?.name !== 'raftlog') throw new Error('--engines must include raftlog (ratios are against it)')
  const workDir = mkdtempSync(join(values.dir ?? tmpdir(), 'raftlog-bench-'))
  const command = `npm run bench${values.quick === true ? ' -- --quick' : ''}`
  try {
    const mode = values.quick === true ? 'quick' : 'full'
    const report = await runBench(engines, settingsFor(mode, workDir), {
      command,
      machine: true,
      raftlogOnly: raftlogOnlySizesFor(mode),
      manyGroups: manyGroupsSizesFor(mode),
      progress: (line) => console.error(line),
    })
    const table = markdown(report)
    console.log(table)
    if (values['no-save'] !== true) {
      const results = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'results')
      mkdirSync(results, { recursive: true })
      const stamp = report.date.slice(0, 10) + (values.quick === true ? '-quick' : '')
      writeFileSync(join(results, `${stamp}.json`), `${JSON.stringify(report, null, 2)}\n`)
      writeFileSync(join(results, `${stamp}.svg`), svg(report))
      writeFileSync(join(results, `${stamp}.md`), `${table}\n`)
      console.error(`results: bench/results/${stamp}.json, .svg, .md`)
    }
  } finally {
    rmSync(workDir, { recursive: true, force: true })
  }
}

main().catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
