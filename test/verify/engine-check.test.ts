// raftlog verify's check of an engine directory: the engine's own rule, read-only.
import { describe, expect, it } from 'vitest'
import { closeSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { LogEngine } from '../../src/engine/log-engine.js'
import { engineFileName } from '../../src/engine/engine-format.js'
import { isEngineDirectory, verifyEngineDirectory } from '../../src/verify/engine-check.js'
import { tempDir } from '../helpers/temp-dir.js'

function overwrite(path: string, offset: number, bytes: Uint8Array): void {
  const fd = openSync(path, 'r+')
  writeSync(fd, bytes, 0, bytes.length, offset)
  closeSync(fd)
}

function engineDir(): string {
  const dir = tempDir()
  const engine = LogEngine.open(dir, { fileSize: 16 * 1024, logger: { warn() {} } })
  for (let group = 1; group <= 4; group++) engine.createGroup(group)
  for (let i = 1; i <= 30; i++) for (let group = 1; group <= 4; group++) engine.append(group, [{ term: 1, data: new Uint8Array(200).fill(i) }])
  engine.compact(1, 10)
  engine.close()
  return dir
}

describe('verifyEngineDirectory', () => {
  it('finds a clean directory ok, with its files, groups and entries', () => {
    const dir = engineDir()
    expect(isEngineDirectory(dir)).toBe(true)
    const result = verifyEngineDirectory(dir)
    expect(result).toMatchObject({ ok: true, groups: 4, entries: 110, tailBytes: 0, problems: [] })
    expect(result.files).toBeGreaterThan(1)
  })

  it('reports a torn end of the last file as what opening would cut, and changes nothing', () => {
    const dir = engineDir()
    const last = join(dir, engineFileName(verifyEngineDirectory(dir).files))
    overwrite(last, 16 * 1024 - 1000, new Uint8Array(64).fill(3))
    const before = readFileSync(last)
    const result = verifyEngineDirectory(dir)
    expect(result).toMatchObject({ ok: true, tailFile: engineFileName(result.files) })
    expect(result.tailBytes).toBeGreaterThan(0)
    expect(readFileSync(last).equals(before)).toBe(true)
    const engine = LogEngine.open(dir, { logger: { warn() {} } })
    expect(engine.recovery.cutBytes).toBe(result.tailBytes)
    engine.close()
  })

  it('reports damage as opening would refuse it: file and byte', () => {
    const dir = engineDir()
    overwrite(join(dir, engineFileName(1)), 64 + 32 + 4 * 40 + 40 + 10, new Uint8Array([0xee]))
    const result = verifyEngineDirectory(dir)
    expect(result.ok).toBe(false)
    expect(result.problems[0]).toMatchObject({ file: engineFileName(1), problem: 'record checksum mismatch' })
    expect(() => LogEngine.open(dir, { logger: { warn() {} } })).toThrow(expect.objectContaining({ code: 'ERR_CORRUPT', message: expect.stringContaining(`at byte ${result.problems[0]!.offset}`) }))
  })

  it('refuses a directory a running engine holds', () => {
    const dir = engineDir()
    const engine = LogEngine.open(dir, { logger: { warn() {} } })
    expect(() => verifyEngineDirectory(dir)).toThrow(expect.objectContaining({ code: 'ERR_LOCKED' }))
    engine.close()
  })
})

describe('an engine file that is not a file', () => {
  it('is a problem verify names, and repair asks for it to be moved away', async () => {
    const dir = engineDir()
    mkdirSync(join(dir, engineFileName(verifyEngineDirectory(dir).files + 1)))
    const result = verifyEngineDirectory(dir)
    expect(result.problems[0]).toMatchObject({ file: engineFileName(result.files), problem: expect.stringContaining('not a file') })
    const { repairEngineDirectory } = await import('../../src/verify/engine-repair.js')
    await expect(repairEngineDirectory(dir, { dryRun: true })).rejects.toThrow(/is not a file \(a directory, say\): move it out of the engine directory/)
  })
})
