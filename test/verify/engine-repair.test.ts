// repairEngineDirectory where frames split a turn: a hard state whose commit index names entries
// in a later frame, cut off by the damage, is lowered to the last entry kept; a vote written after
// the damage, in the same file, is found and kept.
import { describe, expect, it } from 'vitest'
import { closeSync, existsSync, openSync, readdirSync, readFileSync, unlinkSync, writeFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { LogEngine } from '../../src/engine/log-engine.js'
import { engineFileName, readFileHeader, RecordKind } from '../../src/engine/engine-format.js'
import { walkEngineFile } from '../../src/engine/engine-walk.js'
import { repairEngineDirectory } from '../../src/verify/engine-repair.js'
import { tempDir } from '../helpers/temp-dir.js'

const quiet = { warn() {} }

describe('repairEngineDirectory', () => {
  it('lowers a commit index past the entries a cut keeps, keeps the entries before it and a vote after it in the same file', async () => {
    const dir = tempDir()
    // Frames of at most 512 bytes: a hard state staged before its entries lands in an earlier frame.
    const engine = LogEngine.open(dir, { fileSize: 64 * 1024, maxBatchBytes: 512, logger: quiet })
    engine.createGroup(1)
    for (let i = 1; i <= 20; i++) {
      engine.setHardState(1, { term: 1, vote: 1, commit: i })
      engine.append(1, [{ term: 1, data: new Uint8Array(600).fill(i) }])
      await engine.flush()
    }
    engine.setHardState(1, { term: 3, vote: 2, commit: 20 })
    await engine.flush()
    engine.close()
    // Damage the frame that holds entry 12: the hard state saying commit 12 comes before it.
    const path = join(dir, engineFileName(1))
    const bytes = readFileSync(path)
    const header = readFileHeader(bytes)
    if (typeof header === 'string') throw new Error(header)
    let entry12 = -1
    walkEngineFile(bytes, header.firstBatch, true, (fields, offset) => {
      if (fields.kind === RecordKind.Entry && fields.index === 12) entry12 = offset
    })
    const fd = openSync(path, 'r+')
    writeSync(fd, new Uint8Array([0xab]), 0, 1, entry12 + 100)
    closeSync(fd)

    const dry = await repairEngineDirectory(dir, { dryRun: true })
    expect(dry.plan?.groups).toEqual([{ group: 1, lastIndex: 11, lostUpTo: 20, hardState: { term: 3, vote: 2 }, commit: { from: 12, to: 11 } }])
    const report = await repairEngineDirectory(dir, { dryRun: false })
    expect(report.left).toEqual([])
    const reopened = LogEngine.open(dir, { logger: quiet })
    try {
      expect(reopened.lastIndex(1)).toBe(11)
      expect(reopened.hardState(1)).toEqual({ term: 3, vote: 2, commit: 11 })
      expect(reopened.entries(1, 11, 12)[0]?.data).toEqual(new Uint8Array(600).fill(11))
    } finally {
      reopened.close()
    }
  })

  it('finishes a repair stopped after any step when run again, every vote kept', async () => {
    for (const step of ['file written', 'one file deleted'] as const) {
      const dir = tempDir()
      const engine = LogEngine.open(dir, { fileSize: 16 * 1024, logger: quiet })
      for (let group = 1; group <= 3; group++) engine.createGroup(group)
      for (let i = 1; i <= 80; i++) for (let group = 1; group <= 3; group++) engine.append(group, [{ term: 1, data: new Uint8Array(200).fill(i) }])
      engine.setHardState(2, { term: 4, vote: 1, commit: 80 })
      await engine.flush()
      engine.close()
      const path = join(dir, engineFileName(2))
      const fd = openSync(path, 'r+')
      writeSync(fd, new Uint8Array([0xab]), 0, 1, 3000)
      closeSync(fd)
      expect((await repairEngineDirectory(dir, { dryRun: false, stopAfter: step })).left).toHaveLength(1)
      // Half repaired, the directory still holds the damaged file: no node opens it.
      expect(() => LogEngine.open(dir, { logger: quiet }), step).toThrow(expect.objectContaining({ code: 'ERR_CORRUPT' }))
      await expect(repairEngineDirectory(dir, { dryRun: true }), step).rejects.toThrow(/a repair stopped part way/)
      const finished = await repairEngineDirectory(dir, { dryRun: false })
      expect(finished.left, step).toEqual([])
      const reopened = LogEngine.open(dir, { logger: quiet })
      try {
        expect(reopened.hardState(2), step).toMatchObject({ term: 4, vote: 1 })
        expect(reopened.lastIndex(2), step).toBeLessThan(80)
        expect(reopened.hardState(2).commit, step).toBeLessThanOrEqual(reopened.lastIndex(2))
      } finally {
        reopened.close()
      }
    }
  })

  it('refuses a directory whose first file is missing: a cut cannot repair the start of the history', async () => {
    const dir = tempDir()
    const engine = LogEngine.open(dir, { fileSize: 16 * 1024, logger: quiet })
    engine.createGroup(1)
    for (let i = 1; i <= 100; i++) engine.append(1, [{ term: 1, data: new Uint8Array(300) }])
    await engine.flush()
    engine.close()
    const { unlinkSync } = await import('node:fs')
    unlinkSync(join(dir, engineFileName(1)))
    await expect(repairEngineDirectory(dir, { dryRun: true })).rejects.toThrow(expect.objectContaining({ code: 'ERR_CORRUPT' }))
  })

  /** Group 1's vote of term 1, one small entry and two of 9,000 bytes (the second starts file 2), then `after` on the open engine. */
  async function twoFiles(after: (engine: LogEngine) => Promise<void>): Promise<string> {
    const dir = tempDir()
    const engine = LogEngine.open(dir, { fileSize: 16 * 1024, logger: quiet })
    engine.createGroup(1)
    engine.setHardState(1, { term: 1, vote: 1, commit: 0 })
    engine.append(1, [{ term: 1, data: new Uint8Array(100) }])
    await engine.flush()
    engine.append(1, [{ term: 1, data: new Uint8Array(9000).fill(2) }])
    await engine.flush()
    await after(engine)
    engine.close()
    return dir
  }

  it('keeps a vote in the first frame of a file whose header is damaged, in a new file of that name (no room needed in the full file before)', async () => {
    const dir = await twoFiles(async (engine) => {
      engine.append(1, [{ term: 1, data: new Uint8Array(9000).fill(3) }])
      engine.setHardState(1, { term: 7, vote: 3, commit: 2 })
      await engine.flush()
      engine.append(1, [{ term: 7, data: new Uint8Array(9000).fill(4) }])
      await engine.flush()
    })
    const fd = openSync(join(dir, engineFileName(2)), 'r+')
    writeSync(fd, new Uint8Array([0xff]), 0, 1, 3)
    closeSync(fd)
    // Stopped after the later files went: the damaged file is still there, so no engine opens the directory.
    await repairEngineDirectory(dir, { dryRun: false, stopAfter: 'one file deleted' })
    expect(() => LogEngine.open(dir, { logger: quiet })).toThrow(expect.objectContaining({ code: 'ERR_CORRUPT' }))
    const report = await repairEngineDirectory(dir, { dryRun: false })
    expect(report.resumed).toMatch(/^finished a repair stopped part way/)
    expect(report.left).toEqual([])
    const reopened = LogEngine.open(dir, { logger: quiet })
    try {
      expect(reopened.hardState(1)).toMatchObject({ term: 7, vote: 3 })
      expect(reopened.lastIndex(1)).toBe(2)
    } finally {
      reopened.close()
    }
  })

  it('keeps a vote from a file after a missing one', async () => {
    const dir = await twoFiles(async (engine) => {
      engine.append(1, [{ term: 1, data: new Uint8Array(9000).fill(3) }])
      await engine.flush()
      engine.append(1, [{ term: 1, data: new Uint8Array(9000).fill(4) }])
      engine.setHardState(1, { term: 9, vote: 2, commit: 1 })
      await engine.flush()
    })
    const files = readdirSync(dir).filter((name) => name.startsWith('engine_')).sort()
    expect(files.length).toBeGreaterThanOrEqual(3)
    unlinkSync(join(dir, engineFileName(2)))
    const report = await repairEngineDirectory(dir, { dryRun: false })
    expect(report.left).toEqual([])
    const reopened = LogEngine.open(dir, { logger: quiet })
    try {
      expect(reopened.hardState(1)).toMatchObject({ term: 9, vote: 2 })
    } finally {
      reopened.close()
    }
  })

  it('keeps the newest vote however many files of frames follow the damage', async () => {
    const dir = tempDir()
    const engine = LogEngine.open(dir, { fileSize: 16 * 1024, logger: quiet })
    engine.createGroup(1)
    for (let term = 1; term <= 700; term++) {
      engine.setHardState(1, { term, vote: 1 + (term % 3), commit: 0 })
      await engine.flush()
    }
    engine.close()
    expect(readdirSync(dir).filter((name) => name.startsWith('engine_')).length).toBeGreaterThanOrEqual(4)
    const fd = openSync(join(dir, engineFileName(1)), 'r+')
    writeSync(fd, new Uint8Array([0xff]), 0, 1, 500)
    closeSync(fd)
    expect((await repairEngineDirectory(dir, { dryRun: false })).left).toEqual([])
    const reopened = LogEngine.open(dir, { logger: quiet })
    try {
      expect(reopened.hardState(1)).toMatchObject({ term: 700, vote: 2 })
    } finally {
      reopened.close()
    }
  })

  it('removes a .repaired file left beside a directory with no problem, never putting it in place of a live file', async () => {
    const dir = await twoFiles(async () => {})
    const live = readFileSync(join(dir, engineFileName(1)))
    writeFileSync(join(dir, `${engineFileName(1)}.repaired`), Buffer.alloc(live.length))
    const report = await repairEngineDirectory(dir, { dryRun: false })
    expect(report.resumed).toMatch(/^removed engine_0+1\.log\.repaired, left from an earlier repair/)
    expect(readFileSync(join(dir, engineFileName(1))).equals(live)).toBe(true)
    expect(existsSync(join(dir, `${engineFileName(1)}.repaired`))).toBe(false)
  })
})
