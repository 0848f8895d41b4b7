// The crash-test writer's lines must reach the parent even when the parent reads late and the
// writer SIGKILLs itself right after saying them. A parent that falls a few hundred lines behind
// (a loaded machine) used to lose the writer's last lines: process.stdout.write() queues inside
// the writer once the pipe is full, and the kill drops the queue. The model then had never seen
// the W lines of the last appends, and reported the entries, which survive a kill, as "entry in
// term N was never written" (RAFT_SEED=905606272 round 14; crash-test --seed 2026 round 23).
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { CrashModel } from '../../src/cli/crash-test/model.js'
import type { WriterConfig } from '../../src/cli/crash-test/writer.js'
import { runWriterProcess } from '../../src/cli/crash-test/writer-process.js'
import { RaftLog } from '../../src/storage/raft-log.js'
import { silentLogger } from '../helpers/entries.js'
import { tempDir } from '../helpers/temp-dir.js'

const dist = new URL('../../dist/cli/crash-test/', import.meta.url)

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

/** Blocks this process (its event loop, so it reads nothing), as a starved parent is blocked. */
function stall(ms: number): void {
  const until = Date.now() + ms
  while (Date.now() < until) sleep(10)
}

/** A child that says `count` lines one way or the other, then SIGKILLs itself at once. */
function lineWriter(dir: string, how: 'sayLine' | 'process.stdout.write'): string {
  const path = join(dir, 'line-writer.mjs')
  const say = how === 'sayLine' ? 'sayLine(line)' : 'process.stdout.write(`${line}\\n`)'
  writeFileSync(
    path,
    `import { sayLine } from ${JSON.stringify(new URL('protocol-line.js', dist).href)}
const { count } = JSON.parse(process.argv[2])
for (let i = 1; i <= count; i++) { const line = i === 1 ? 'O 1' : \`W \${i} \${i} 7\`; ${say} }
process.kill(process.pid, 'SIGKILL')
`,
  )
  return path
}

async function linesHeard(path: string, count: number): Promise<string[]> {
  const heard: string[] = []
  const problem = await runWriterProcess(
    path,
    { count },
    (line) => {
      // Far longer than the child needs to say all its lines and kill itself, unless it waits for us.
      if (heard.length === 0) stall(1500)
      heard.push(line)
    },
    20_000,
  )
  expect(problem).toBeUndefined()
  return heard
}

describe('the crash-test writer protocol', () => {
  it('every line said before the SIGKILL reaches a parent that reads late', async () => {
    const count = 5000
    const heard = await linesHeard(lineWriter(tempDir(), 'sayLine'), count)
    expect(heard.length).toBe(count)
    expect(heard.at(-1)).toBe(`W ${count} ${count} 7`)
  })

  it('(why: process.stdout.write queues in the writer when the pipe is full, and the SIGKILL loses the queue)', async () => {
    const heard = await linesHeard(lineWriter(tempDir(), 'process.stdout.write'), 5000)
    expect(heard.length).toBeLessThan(5000)
  })

  it('the real writer, killed with its parent hundreds of lines behind: the checker finds the log exactly as said', async () => {
    const dir = tempDir()
    const trace = join(dir, 'writer.trace')
    const entrySize = { min: 0, max: 700 }
    const config: WriterConfig = {
      dir: join(dir, 'log'),
      payloadSeed: 1,
      roundSeed: 99,
      segmentSize: 16384,
      entrySize,
      batch: 16,
      crashPoint: 'none',
      crashPointAt: 40,
      // About 3 lines an operation: far more than the pipe holds (a few hundred short lines).
      killAtOperation: 300,
      killStep: 'after-append',
    }
    const model = new CrashModel(config.payloadSeed, entrySize)
    let heard = 0
    const problem = await runWriterProcess(
      new URL('writer.js', dist).pathname,
      config,
      (line) => {
        if (heard++ === 0) {
          // Read nothing until the writer has stopped: killed, or waiting for us (1 s without a
          // line said; the trace file gets each line before stdout does).
          let size = -1
          let since = Date.now()
          while (Date.now() - since < 1000) {
            const now = statSync(trace, { throwIfNoEntry: false })?.size ?? 0
            if (now !== size) [size, since] = [now, Date.now()]
            sleep(20)
          }
        }
        model.observe(line)
      },
      20_000,
      { ...process.env, RAFTLOG_CRASH_TRACE_FILE: trace },
    )
    expect(problem).toBeUndefined()
    const said = readFileSync(trace, 'utf8').trimEnd().split('\n')
    const log = RaftLog.open(config.dir, { segmentSize: config.segmentSize, logger: silentLogger })
    try {
      const { violations, recovered } = model.check(log, 1)
      // Before the fix: hundreds of "entry in term N was never written", the writer's last appends.
      const first = violations[0]
      expect(violations.length, `heard ${heard} of ${said.length} lines; first violation: index ${first?.index}: ${first?.problem}`).toBe(0)
      expect(recovered).toBeGreaterThan(0)
    } finally {
      log.close()
    }
    expect(said.length).toBeGreaterThan(600)
    expect(heard).toBe(said.length)
  })
})
