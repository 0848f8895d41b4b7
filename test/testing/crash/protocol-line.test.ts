// A crash-test writer's protocol lines reach the parent even when the writer is killed right
// after writing them while the parent is slow to read: otherwise the parent misses what was
// written, truncated or acknowledged, and judges the recovered log against the wrong model.
import { describe, expect, it } from 'vitest'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const protocolLine = fileURLToPath(new URL('../../../dist/testing/crash/protocol-line.js', import.meta.url))

describe('a crash-test writer protocol line', () => {
  it('is out of the process when sayLine returns: 100,000 lines, then SIGKILL, a parent that reads late gets them all', async () => {
    const script = `import { sayLine } from ${JSON.stringify(protocolLine)}
for (let i = 0; i < 100000; i++) sayLine('W ' + i + ' ' + (i + 15) + ' 7')
process.kill(process.pid, 'SIGKILL')`
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
    child.stdout.pause()
    let received = ''
    setTimeout(() => {
      child.stdout.on('data', (chunk: Buffer) => (received += chunk.toString()))
      child.stdout.resume()
    }, 300)
    const signal = await new Promise((resolve) => child.on('close', (_code, signal) => resolve(signal)))
    expect(signal).toBe('SIGKILL')
    const lines = received.split('\n').filter((line) => line.length > 0)
    expect(lines.length).toBe(100000)
    expect(lines.at(-1)).toBe('W 99999 100014 7')
  })
})
