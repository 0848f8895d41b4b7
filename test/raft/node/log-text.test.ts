// Text another process sent, on its way into a log line (log-text.ts).
import { describe, expect, it } from 'vitest'
import { describeText, escapeControls, logText, maxLogTextChars } from '../../../src/raft/node/log-text.js'

describe('log text from another process', () => {
  it('escapes line breaks, terminal escapes and direction overrides, so no line can be forged or repainted', () => {
    expect(escapeControls('a\nb\r\u001b[2Jc\u202ed\u2028')).toBe('a\\u000ab\\u000d\\u001b[2Jc\\u202ed\\u2028')
    expect(escapeControls('plain text, ünïcode ✓')).toBe('plain text, ünïcode ✓')
  })

  it('cuts a long text to a bound and says how much was left out', () => {
    const text = logText('x'.repeat(8 * 1024 * 1024))
    expect(text).toBe(`${'x'.repeat(maxLogTextChars)}… (${8 * 1024 * 1024 - maxLogTextChars} more characters)`)
    expect(describeText('y'.repeat(100))).toBe(`"${'y'.repeat(32)}…" (100 characters)`)
    expect(describeText('ok\n')).toBe('"ok\\u000a"')
  })
})
