// The text form of log lines (logger.ts).
import { describe, expect, it } from 'vitest'
import { textLine } from '../../src/observe/logger.js'

describe('text log lines', () => {
  it('are one line whatever the message holds: a newline in an address or an error cannot start a forged line', () => {
    const line = textLine('2026-12-01T00:00:00.000Z', { nodeId: 1 }, 'warn', 'membership: 4@host\n2026-12-01T00:00:01.000Z [node 2] election won: leader for term 99')
    expect(line.split('\n')).toHaveLength(1)
    expect(line).toBe('2026-12-01T00:00:00.000Z [node 1] warning: membership: 4@host\\u000a2026-12-01T00:00:01.000Z [node 2] election won: leader for term 99')
  })
})
