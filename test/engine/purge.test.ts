// Freeing engine files: a file goes once no group needs it; a group that lags pins old files
// until purge() writes its few live records again at the head; a crash anywhere in a purge leaves
// a directory that opens to the same groups.
import { describe, expect, it } from 'vitest'
import { copyFileSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { LogEngine, type LogEngineOptions } from '../../src/engine/log-engine.js'
import { tempDir } from '../helpers/temp-dir.js'

const options: LogEngineOptions = { fileSize: 16 * 1024, rewriteLagFiles: 2, logger: { warn() {} } }
const kib = (seed: number) => new Uint8Array(1000).fill(seed & 0xff)

function engineFiles(dir: string): string[] {
  return readdirSync(dir).filter((name) => name.startsWith('engine_')).sort()
}

/** Group 1 holds 3 entries and a hard state written first; group 2 then appends 100 KiB and compacts it all but the last. */
function laggingAndBusy(dir: string, extra: LogEngineOptions = {}): LogEngine {
  const engine = LogEngine.open(dir, { ...options, ...extra })
  engine.createGroup(1)
  engine.createGroup(2)
  engine.setHardState(1, { term: 1, vote: 1, commit: 2 })
  engine.append(1, [{ term: 1, data: kib(1) }, { term: 1, data: kib(2) }, { term: 1, data: kib(3) }])
  for (let i = 1; i <= 100; i++) {
    engine.append(2, [{ term: 1, data: kib(i) }])
    if (i % 10 === 0) engine.flushSync()
  }
  engine.compact(2, 99)
  engine.flushSync()
  return engine
}

function snapshot(engine: LogEngine) {
  return engine.groupIds().sort().map((id) => ({ id, first: engine.firstIndex(id), hard: engine.hardState(id), entries: engine.entries(id, engine.firstIndex(id)) }))
}

describe('LogEngine.purge', () => {
  it('compaction frees the files no group needs, oldest first', () => {
    const dir = tempDir()
    // No rewrites here: the group's own compaction must free the files.
    const engine = LogEngine.open(dir, { ...options, rewriteLagFiles: 1000 })
    engine.createGroup(1)
    for (let i = 1; i <= 60; i++) engine.append(1, [{ term: 1, data: kib(i) }])
    engine.flushSync()
    const before = engineFiles(dir)
    expect(before.length).toBeGreaterThan(3)
    expect(engine.purge().freedFiles).toEqual([])
    engine.compact(1, 60)
    const report = engine.purge()
    expect(report.freedFiles).toEqual(before.slice(0, -1))
    expect(engineFiles(dir)).toEqual(before.slice(-1))
    engine.close()
    const again = LogEngine.open(dir, options)
    expect([again.firstIndex(1), again.lastIndex(1), again.termAt(1, 60)]).toEqual([61, 60, 1])
    again.close()
  })

  it('a lagging group is rewritten at the head, and the files it pinned go', () => {
    const dir = tempDir()
    const engine = laggingAndBusy(dir)
    const expected = snapshot(engine)
    const before = engineFiles(dir).length
    const report = engine.purge()
    expect(report.rewrittenGroups).toEqual([1])
    expect(report.compactRequested).toEqual([])
    expect(report.freedFiles.length).toBe(before - 1)
    expect(snapshot(engine)).toEqual(expected)
    engine.close()
    const again = LogEngine.open(dir, options)
    expect(snapshot(again)).toEqual(expected)
    again.close()
  })

  it('a lagging group holding more than rewriteMaxBytes is asked to compact instead', () => {
    const dir = tempDir()
    const engine = laggingAndBusy(dir, { rewriteMaxBytes: 2000 })
    const report = engine.purge()
    expect(report.rewrittenGroups).toEqual([])
    expect(report.compactRequested).toEqual([1])
    expect(report.freedFiles).toEqual([])
    engine.compact(1, 3)
    expect(engine.purge().freedFiles.length).toBeGreaterThan(0)
    engine.close()
  })

  it('a crash after the rewrite and before or during the deletions opens to the same groups', () => {
    const dir = tempDir()
    const engine = laggingAndBusy(dir)
    const expected = snapshot(engine)
    const saved = tempDir()
    for (const name of engineFiles(dir)) copyFileSync(join(dir, name), join(saved, name))
    const { freedFiles } = engine.purge()
    engine.close()
    // Every prefix of the deletions: the deleted files, from the k-th on, come back.
    for (let k = 0; k <= freedFiles.length; k++) {
      const crashed = tempDir()
      for (const name of engineFiles(dir)) copyFileSync(join(dir, name), join(crashed, name))
      for (const name of freedFiles.slice(k)) copyFileSync(join(saved, name), join(crashed, name))
      const reopened = LogEngine.open(crashed, options)
      expect(snapshot(reopened), `${k} files deleted`).toEqual(expected)
      reopened.close()
      rmSync(crashed, { recursive: true, force: true })
    }
  })
})
