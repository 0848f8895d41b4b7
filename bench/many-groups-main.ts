// npm run bench:groups [-- --quick]: only the many-groups comparison of npm run bench (the shared
// log engine against one RaftLog per group), printed as its Markdown table.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { manyGroupsMarkdown, manyGroupsSizesFor, runManyGroups } from './many-groups.js'

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { quick: { type: 'boolean' }, dir: { type: 'string' } } })
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
