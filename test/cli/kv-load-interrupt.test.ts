// Ctrl-C during `kv load` on a terminal: the terminal is given back as it was (cursor shown,
// line wrap on) and the user is told how many keys the cluster acknowledged. A real terminal:
// util-linux `script` runs the command on a pseudo-terminal, and ^C typed into it interrupts it.
import { describe, expect, it } from 'vitest'
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cliPath, runCli } from '../helpers/cli.js'
import { exited, startNode, statuses, waitFor, writeConfig } from '../helpers/processes.js'
import { tempDir } from '../helpers/temp-dir.js'

const keys = 300_000
const showCursor = '\x1b[?25h'
const lineWrapOn = '\x1b[?7h'

describe('kv load on a terminal', () => {
  it('gives the cursor and line wrap back on Ctrl-C and says how many keys were written', { timeout: 90_000 }, async () => {
    const dir = tempDir('raftlog-kv-interrupt-')
    const { path: config } = await writeConfig(dir, 1)
    const node = startNode(config, 1)
    try {
      await waitFor('a leader', async () => (await statuses(config)).find((s) => s.reachable && s.role === 'leader'))
      const file = join(dir, 'load.txt')
      writeFileSync(file, Array.from({ length: keys }, (_, i) => `key-${i}\tvalue ${i}\n`).join(''))
      const command = [process.execPath, cliPath, 'kv', 'load', file, '--config', config].map((word) => `'${word}'`).join(' ')
      const terminal = spawn('script', ['-qfec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] })
      let output = ''
      terminal.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
      // Once the bar shows keys written, type ^C.
      await waitFor('the progress bar to count', async () => (/\| [1-9]\d*\/300000 \|/.test(output) ? true : undefined), 60_000)
      const beforeInterrupt = output.length
      terminal.stdin.write('\x03')
      expect(await exited(terminal)).toBe(130)
      const after = output.slice(beforeInterrupt)
      expect(after).toContain(showCursor)
      expect(after).toContain(lineWrapOn)
      const stopped = /kv load stopped \(SIGINT\): (\d+) of 300000 keys written \(acknowledged by the cluster\)/.exec(after)
      expect(stopped, after).not.toBeNull()
      const written = Number(stopped![1])
      expect(written).toBeGreaterThan(0)
      expect(written).toBeLessThan(keys)
      // Every key it counted is in the store (batches in flight may have landed too).
      const scan = await runCli(['kv', 'scan', 'key-', '--config', config])
      expect(scan.stdout.split('\n').length - 1).toBeGreaterThanOrEqual(written)
    } finally {
      node.child.kill('SIGKILL')
      await exited(node.child)
    }
  })
})
