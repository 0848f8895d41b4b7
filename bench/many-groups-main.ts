// npm run bench:groups [-- --quick]: only the many-groups comparison of npm run bench (the shared
// log engine against one RaftLog per group), printed as its Markdown table.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { manyGroupsMarkdown, manyGroupsSizesFor, runManyGroups } from './many-groups.js'
import { benchArgs } from './bench-args.js'

const usage = `Usage: npm run bench:groups [-- --quick] [-- --dir D]

The shared log engine against one RaftLog per group (the many-groups table of npm run bench):
each turn every group appends one 100 B entry, then the turn is made durable; appends/s and
flushes/s at 1, 64 and 1,024 groups.

  --quick   short cases (0.3 s each instead of 1.5 s)
  --dir D   where to make the logs (default: the system temp directory)`

async function main(): Promise<void> {
  const values = benchArgs(usage, { quick: { type: 'boolean' }, dir: { type: 'string' } })
  const workDir = mkdtempSync(join(values.dir ?? tmpdir(), 'raftlog-groups-bench-'))
  try {
    const rows = await runManyGroups(workDir, manyGroupsSizesFor(values.quick === true ? 'quick' : 'full'))
    console.log(`Command: \`npm run bench:groups${values.quick === true ? ' -- --quick' : ''}\` (${new Date().toISOString()}, Node ${process.version})\n`)
    console.log(manyGroupsMarkdown(rows))
  } finally {
    rmSync(workDir, { recursive: true, force: true })
  }
}

main().catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
