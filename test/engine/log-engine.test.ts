// The shared log engine through its public API: many groups in one directory, one flush for all.
import { describe, expect, it } from 'vitest'
import { readdirSync } from 'node:fs'
import { LogEngine } from '../../src/engine/log-engine.js'
import { EntryType } from '../../src/storage/log-entry.js'
import { tempDir } from '../helpers/temp-dir.js'

const quiet = { warn() {} }
const bytes = (text: string) => new TextEncoder().encode(text)
const text = (data: Uint8Array) => new TextDecoder().decode(data)

function open(dir: string, options: Parameters<typeof LogEngine.open>[1] = {}) {
  return LogEngine.open(dir, { fileSize: 64 * 1024, logger: quiet, ...options })
}

describe('LogEngine', () => {
  it('appends and reads entries of many groups, interleaved, from one directory', () => {
    const engine = open(tempDir())
    for (let group = 1; group <= 5; group++) engine.createGroup(group)
    for (let round = 1; round <= 10; round++) {
      for (let group = 1; group <= 5; group++) engine.append(group, [{ term: 1, data: bytes(`g${group}-e${round}`) }])
    }
    for (let group = 1; group <= 5; group++) {
      expect(engine.firstIndex(group)).toBe(1)
      expect(engine.lastIndex(group)).toBe(10)
      expect(engine.entries(group, 1).map((entry) => text(entry.data))).toEqual(Array.from({ length: 10 }, (_, i) => `g${group}-e${i + 1}`))
    }
    engine.flushSync()
    expect(text(engine.get(3, 7)!.data)).toBe('g3-e7')
    expect(engine.get(3, 11)).toBeUndefined()
    engine.close()
  })

  it('a flush makes every group durable with one sync, and a reopen reads them back', async () => {
    const dir = tempDir()
    const engine = open(dir)
    for (let group = 1; group <= 64; group++) {
      engine.createGroup(group)
      engine.setHardState(group, { term: 2, vote: group % 3, commit: 1 })
      engine.append(group, [{ term: 1, data: bytes(`a${group}`) }, { term: 2, type: EntryType.NoOp }])
    }
    const before = engine.stats.flushes
    await engine.flush()
    expect(engine.stats.flushes - before).toBe(1)
    engine.close()
    const again = open(dir)
    expect(again.groupIds().sort((a, b) => a - b)).toEqual(Array.from({ length: 64 }, (_, i) => i + 1))
    for (let group = 1; group <= 64; group++) {
      expect(again.hardState(group)).toEqual({ term: 2, vote: group % 3, commit: 1 })
      const entries = again.entries(group, 1)
      expect(entries.map((entry) => [entry.index, entry.term, entry.type, text(entry.data)])).toEqual([
        [1, 1, EntryType.Normal, `a${group}`],
        [2, 2, EntryType.NoOp, ''],
      ])
    }
    again.close()
  })

  it('append at an earlier index drops the conflicting suffix, also after a reopen', () => {
    const dir = tempDir()
    const engine = open(dir)
    engine.createGroup(7)
    engine.append(7, [1, 1, 1, 2, 2].map((term, i) => ({ term, data: bytes(`old${i + 1}`) })))
    expect(engine.append(7, [{ term: 3, data: bytes('new3') }], 3)).toBe(3)
    expect(engine.termAt(7, 3)).toBe(3)
    expect(engine.termAt(7, 4)).toBeUndefined()
    engine.truncateAfter(7, 2)
    expect(engine.lastIndex(7)).toBe(2)
    engine.append(7, [{ term: 4, data: bytes('newer3') }])
    engine.close()
    const again = open(dir)
    expect(again.entries(7, 1).map((entry) => `${entry.term}:${text(entry.data)}`)).toEqual(['1:old1', '1:old2', '4:newer3'])
    expect(() => again.append(7, [{ term: 4 }], 9)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }))
    expect(() => again.append(7, [{ term: 3 }])).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGUMENT' }))
    again.close()
  })

  it('compaction and reset are per group and survive a reopen', () => {
    const dir = tempDir()
    const engine = open(dir)
    engine.createGroup(1)
    engine.createGroup(2)
    for (let i = 1; i <= 20; i++) {
      engine.append(1, [{ term: 1 + Math.floor(i / 10), data: bytes(`one${i}`) }])
      engine.append(2, [{ term: 1, data: bytes(`two${i}`) }])
    }
    engine.compact(1, 12)
    engine.reset(2, 100, 9)
    expect(engine.firstIndex(1)).toBe(13)
    expect(engine.termAt(1, 12)).toBe(2)
    expect(() => engine.get(1, 12)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }))
    expect([engine.firstIndex(2), engine.lastIndex(2), engine.lastTerm(2)]).toEqual([100, 99, 9])
    engine.append(2, [{ term: 9, data: bytes('two100') }])
    engine.close()
    const again = open(dir)
    expect([again.firstIndex(1), again.lastIndex(1), again.termAt(1, 12)]).toEqual([13, 20, 2])
    expect(text(again.get(1, 13)!.data)).toBe('one13')
    expect([again.firstIndex(2), again.lastIndex(2), again.termAt(2, 99)]).toEqual([100, 100, 9])
    again.close()
  })

  it('groups are created and removed at run time; a removed group stays gone after a reopen', () => {
    const dir = tempDir()
    const engine = open(dir)
    engine.createGroup(1)
    engine.createGroup(2)
    engine.append(2, [{ term: 1, data: bytes('x') }])
    expect(() => engine.createGroup(1)).toThrow(expect.objectContaining({ code: 'ERR_GROUP_EXISTS' }))
    engine.removeGroup(2)
    expect(() => engine.lastIndex(2)).toThrow(expect.objectContaining({ code: 'ERR_NO_GROUP' }))
    engine.close()
    const again = open(dir)
    expect(again.groupIds()).toEqual([1])
    again.createGroup(2)
    expect(again.lastIndex(2)).toBe(0)
    again.close()
  })

  it('hard state is kept per group, the latest one wins', () => {
    const dir = tempDir()
    const engine = open(dir)
    engine.createGroup(1)
    expect(engine.hardState(1)).toEqual({ term: 0, vote: 0, commit: 0 })
    engine.setHardState(1, { term: 1, vote: 2, commit: 0 })
    engine.setHardState(1, { term: 3, vote: 0, commit: 5 })
    engine.close()
    const again = open(dir)
    expect(again.hardState(1)).toEqual({ term: 3, vote: 0, commit: 5 })
    again.close()
  })

  it('a group view works as a RaftLogStore', () => {
    const engine = open(tempDir())
    engine.createGroup(9)
    const log = engine.group(9)
    expect(log.append([{ term: 1 }, { term: 1, data: bytes('b') }])).toBe(2)
    expect([log.firstIndex, log.lastIndex, log.lastTerm, log.termAt(0)]).toEqual([1, 2, 1, 0])
    expect(log.slice(1, 3, { maxBytes: 0 }).length).toBe(1)
    log.truncateAfter(1)
    log.reset(10, 4)
    expect([log.firstIndex, log.lastIndex, log.lastTerm]).toEqual([10, 9, 4])
    engine.close()
  })

  it('a second open of the same directory is refused; any call after close is ERR_CLOSED', () => {
    const dir = tempDir()
    const engine = open(dir)
    expect(() => open(dir)).toThrow(expect.objectContaining({ code: 'ERR_LOCKED' }))
    engine.close()
    expect(() => engine.groupIds()).toThrow(expect.objectContaining({ code: 'ERR_CLOSED' }))
    expect(readdirSync(dir).filter((name) => name.startsWith('engine_'))).toEqual(['engine_00000000000000000001.log'])
  })

  it('an entry larger than a file gets a file sized to fit', () => {
    const dir = tempDir()
    const engine = open(dir)
    engine.createGroup(1)
    const big = new Uint8Array(200 * 1024).fill(7)
    engine.append(1, [{ term: 1, data: big }, { term: 1, data: bytes('after') }])
    engine.close()
    const again = open(dir)
    expect(again.get(1, 1)!.data).toEqual(big)
    expect(text(again.get(1, 2)!.data)).toBe('after')
    again.close()
  })

  it('makes the next file on the thread pool once the active one is half full, and rotates into it', async () => {
    const dir = tempDir()
    const engine = LogEngine.open(dir, { fileSize: 1024 * 1024, logger: quiet })
    engine.createGroup(1)
    const data = new Uint8Array(64 * 1024).fill(5)
    const spares = () => readdirSync(dir).filter((name) => name.startsWith('next-engine-file-'))
    for (let i = 1; i <= 9; i++) {
      engine.append(1, [{ term: 1, data }])
      await engine.flush()
    }
    expect(spares().length).toBe(1)
    await new Promise((resolve) => setTimeout(resolve, 500)) // its zeros, on the thread pool
    for (let i = 10; i <= 20; i++) engine.append(1, [{ term: 1, data }])
    await engine.flush()
    expect(engine.describeFiles().map((file) => file.file)).toEqual(['engine_00000000000000000001.log', 'engine_00000000000000000002.log'])
    expect(engine.stats.filesCreated).toBe(2)
    engine.close()
    const again = open(dir)
    expect(again.entries(1, 1).length).toBe(20)
    expect(again.get(1, 20)!.data).toEqual(data)
    again.close()
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(spares()).toEqual([])
  })
})
