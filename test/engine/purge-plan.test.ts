// Which groups a purge rewrites or asks to compact, and which files it frees.
import { describe, expect, it } from 'vitest'
import { firstNeededFile, planPurge } from '../../src/engine/purge-plan.js'

const limits = { rewriteLagFiles: 4, rewriteMaxBytes: 1000 }

describe('planPurge', () => {
  it('rewrites small groups more than rewriteLagFiles behind the active file, asks large ones to compact', () => {
    const groups = [
      { id: 1, minFile: 10, liveBytes: 50 }, // recent: left alone
      { id: 2, minFile: 6, liveBytes: 50 }, // exactly at the watermark (10 - 4): left alone
      { id: 3, minFile: 5, liveBytes: 1000 }, // lagging, small enough
      { id: 4, minFile: 1, liveBytes: 1001 }, // lagging, too large
    ]
    expect(planPurge(groups, 10, limits)).toEqual({ rewrite: [3], compactRequested: [4] })
  })

  it('frees every file before the oldest one a group needs, never the active one', () => {
    expect(firstNeededFile([{ id: 1, minFile: 7, liveBytes: 0 }, { id: 2, minFile: 4, liveBytes: 0 }], 9)).toBe(4)
    expect(firstNeededFile([], 9)).toBe(9)
    expect(firstNeededFile([{ id: 1, minFile: 12, liveBytes: 0 }], 9)).toBe(9)
  })
})
