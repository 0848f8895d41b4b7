// kv load's progress: a bar on a terminal, plain count lines anywhere else (a file, a pipe, CI).
import { describe, expect, it, vi } from 'vitest'
import { PassThrough } from 'node:stream'
import { progressOn } from '../../src/cli/kv/progress.js'

function stream(isTTY: boolean): { stream: NodeJS.WriteStream; text: () => string } {
  const fake = Object.assign(new PassThrough(), { isTTY, columns: 100, cursorTo: () => true, clearLine: () => true, moveCursor: () => true })
  let text = ''
  fake.on('data', (chunk: Buffer) => (text += chunk.toString()))
  return { stream: fake as unknown as NodeJS.WriteStream, text: () => text }
}

describe('kv load progress', () => {
  it('draws a bar with the count on a terminal', () => {
    const { stream: tty, text } = stream(true)
    const progress = progressOn(tty, 20_000, 'kv load')
    progress.update(20_000)
    progress.stop()
    expect(text()).toMatch(/kv load \[█+\] 100% \| 20000\/20000/)
  })

  it('prints a plain count at most once a second elsewhere, without escape codes', () => {
    vi.useFakeTimers()
    try {
      const { stream: file, text } = stream(false)
      const progress = progressOn(file, 3000, 'kv load')
      progress.update(10)
      vi.advanceTimersByTime(1000)
      progress.update(1500)
      progress.update(1600)
      vi.advanceTimersByTime(1000)
      progress.update(3000)
      progress.stop()
      expect(text()).toBe('kv load: 1500 of 3000\nkv load: 3000 of 3000\n')
    } finally {
      vi.useRealTimers()
    }
  })
})
