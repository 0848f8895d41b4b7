// Opening an engine directory after a crash or damage: the single-group log's rule. Zeros or a
// torn write end the last file (nothing after them was acknowledged), recovery is idempotent, and
// anything a crash cannot leave is ERR_CORRUPT naming the file and byte, with nothing changed.
import { describe, expect, it } from 'vitest'
import { closeSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { LogEngine, type LogEngineOptions } from '../../src/engine/log-engine.js'
import { engineFileName, fileHeaderBytes } from '../../src/engine/engine-format.js'
import { crc32Range } from '../../src/storage/crc32.js'
import { tempDir } from '../helpers/temp-dir.js'

const options: LogEngineOptions = { fileSize: 64 * 1024, logger: { warn() {} } }
const payload = (group: number, index: number) => new Uint8Array(300).fill((group * 31 + index) & 0xff)

/** Writes bytes over a file's content at `offset` (as the disk or a crash would). */
function overwrite(path: string, offset: number, bytes: Uint8Array): void {
  const fd = openSync(path, 'r+')
  try {
    writeSync(fd, bytes, 0, bytes.length, offset)
  } finally {
    closeSync(fd)
  }
}

/**
 * Three groups, 10 entries each flushed; then 5 more each, written to the file (flushSync) and
 * then "lost" by the test. Returns where the flushed part of the last file ends.
 */
function flushedThenMore(dir: string): { file: string; flushedEnd: number; end: number } {
  const engine = LogEngine.open(dir, options)
  for (let group = 1; group <= 3; group++) engine.createGroup(group)
  for (let index = 1; index <= 10; index++) for (let group = 1; group <= 3; group++) engine.append(group, [{ term: 1, data: payload(group, index) }])
  engine.flushSync()
  const flushed = engine.describeFiles().at(-1)!
  for (let index = 11; index <= 15; index++) for (let group = 1; group <= 3; group++) engine.append(group, [{ term: 2, data: payload(group, index) }])
  engine.flushSync()
  const end = engine.describeFiles().at(-1)!
  expect(end.file).toBe(flushed.file)
  engine.close()
  return { file: join(dir, flushed.file), flushedEnd: flushed.usedBytes, end: end.usedBytes }
}

function expectGroups(engine: LogEngine, last: number): void {
  for (let group = 1; group <= 3; group++) {
    expect(engine.lastIndex(group)).toBe(last)
    for (const entry of engine.entries(group, 1)) expect(entry.data).toEqual(payload(group, entry.index))
  }
}

describe('LogEngine recovery', () => {
  it('a torn last frame (a sector never written) is cut, the rest kept; a second open changes nothing', () => {
    const dir = tempDir()
    const { file, flushedEnd, end } = flushedThenMore(dir)
    // Lose one 512-byte sector inside the unflushed frame.
    const sector = Math.ceil((flushedEnd + 600) / 512) * 512
    expect(sector + 512).toBeLessThan(end)
    overwrite(file, sector, new Uint8Array(512))
    const engine = LogEngine.open(dir, options)
    expect(engine.recovery.cutBytes).toBeGreaterThan(0)
    expectGroups(engine, 10)
    engine.close()
    const again = LogEngine.open(dir, options)
    expect(again.recovery.cutBytes).toBe(0)
    expectGroups(again, 10)
    again.append(1, [{ term: 3, data: payload(1, 11) }])
    again.close()
  })

  it('every byte after the last flush lost (zeroed) gives back the flushed entries exactly', () => {
    const dir = tempDir()
    const { file, flushedEnd, end } = flushedThenMore(dir)
    overwrite(file, flushedEnd, new Uint8Array(end - flushedEnd))
    const engine = LogEngine.open(dir, options)
    expect(engine.recovery.cutBytes).toBe(0)
    expectGroups(engine, 10)
    engine.close()
  })

  it('unflushed frames that did reach the disk are kept whole', () => {
    const dir = tempDir()
    flushedThenMore(dir)
    const engine = LogEngine.open(dir, options)
    expectGroups(engine, 15)
    engine.close()
  })

  it('a flipped byte in a flushed frame with frames after it is ERR_CORRUPT naming file and byte, and nothing is changed', () => {
    const dir = tempDir()
    const { file } = flushedThenMore(dir)
    const before = readFileSync(file)
    overwrite(file, 64 + 32 + 40 + 5, new Uint8Array([0xff ^ (before[64 + 32 + 40 + 5] as number)]))
    const damaged = readFileSync(file)
    expect(() => LogEngine.open(dir, options)).toThrow(
      expect.objectContaining({ code: 'ERR_CORRUPT', message: expect.stringMatching(new RegExp(`${engineFileName(1)} is corrupt at byte \\d+`)) }),
    )
    expect(readFileSync(file).equals(damaged)).toBe(true)
  })

  it('damage in a file that is not the last is ERR_CORRUPT even when it looks torn', () => {
    const dir = tempDir()
    const engine = LogEngine.open(dir, { ...options, fileSize: 16 * 1024 })
    engine.createGroup(1)
    for (let index = 1; index <= 80; index++) engine.append(1, [{ term: 1, data: payload(1, index) }])
    engine.close()
    overwrite(join(dir, engineFileName(1)), 1024, new Uint8Array(512))
    expect(() => LogEngine.open(dir, { ...options, fileSize: 16 * 1024 })).toThrow(expect.objectContaining({ code: 'ERR_CORRUPT', message: expect.stringContaining(engineFileName(1)) }))
  })

  it('a missing middle file is ERR_CORRUPT', () => {
    const dir = tempDir()
    const engine = LogEngine.open(dir, { ...options, fileSize: 16 * 1024 })
    engine.createGroup(1)
    for (let index = 1; index <= 200; index++) engine.append(1, [{ term: 1, data: payload(1, index) }])
    engine.close()
    rmSync(join(dir, engineFileName(2)))
    expect(() => LogEngine.open(dir, options)).toThrow(expect.objectContaining({ code: 'ERR_CORRUPT', message: expect.stringContaining(`${engineFileName(2)} is corrupt at byte 0: the file is missing`) }))
  })

  it('a missing first file that a group needs is ERR_CORRUPT', () => {
    const dir = tempDir()
    const engine = LogEngine.open(dir, { ...options, fileSize: 16 * 1024 })
    engine.createGroup(1)
    for (let index = 1; index <= 80; index++) engine.append(1, [{ term: 1, data: payload(1, index) }])
    engine.close()
    const last = join(dir, readdirSync(dir).filter((name) => name.startsWith('engine_')).sort().at(-1)!)
    // Bytes of a torn write after the last file's frames: refused opens must not zero them either.
    overwrite(last, 16 * 1024 - 600, new Uint8Array(100).fill(9))
    const before = readFileSync(last)
    rmSync(join(dir, engineFileName(1)))
    expect(() => LogEngine.open(dir, options)).toThrow(expect.objectContaining({ code: 'ERR_CORRUPT', message: expect.stringContaining('lacks records it needs') }))
    expect(readFileSync(last).equals(before)).toBe(true)
  })

  it('a damaged header is ERR_CORRUPT, another format version ERR_UNSUPPORTED_VERSION', () => {
    const dir = tempDir()
    flushedThenMore(dir)
    const file = join(dir, engineFileName(1))
    overwrite(file, 0, new TextEncoder().encode('XENG'))
    expect(() => LogEngine.open(dir, options)).toThrow(expect.objectContaining({ code: 'ERR_CORRUPT', message: expect.stringContaining('bad magic') }))
    // A header of version 9 whose checksum holds.
    const header = fileHeaderBytes({ sequence: 1, firstBatch: 1 })
    header.writeUInt32LE(9, 4)
    header.writeUInt32LE(crc32Range(header, 0, 52), 52)
    overwrite(file, 0, header)
    expect(() => LogEngine.open(dir, options)).toThrow(expect.objectContaining({ code: 'ERR_UNSUPPORTED_VERSION' }))
  })

  it('a file renamed out of order (wrong sequence in its header) is ERR_CORRUPT', () => {
    const dir = tempDir()
    flushedThenMore(dir)
    renameSync(join(dir, engineFileName(1)), join(dir, engineFileName(5)))
    expect(() => LogEngine.open(dir, options)).toThrow(expect.objectContaining({ code: 'ERR_CORRUPT', message: expect.stringContaining('header names file 1') }))
  })

  it('a read of an entry damaged after open is ERR_CORRUPT, never wrong bytes', () => {
    const dir = tempDir()
    const { file } = flushedThenMore(dir)
    const engine = LogEngine.open(dir, options)
    // The first entry's payload: after the file header, the batch header and the three groups' Reset records.
    const location = 64 + 32 + 3 * 40 + 40 + 8
    overwrite(file, location, new Uint8Array([1, 2, 3]))
    const reads = () => {
      for (let group = 1; group <= 3; group++) engine.entries(group, 1)
    }
    expect(reads).toThrow(expect.objectContaining({ code: 'ERR_CORRUPT' }))
    engine.close()
  })
})
