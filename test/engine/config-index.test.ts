// A group's configuration entries are listed from the engine's index (configIndexes), so a host
// finds a group's membership at start without reading its log: the list follows appends,
// truncations, compactions, resets, a purge's rewrite and a reopen.
import { describe, expect, it } from 'vitest'
import { LogEngine } from '../../src/engine/log-engine.js'
import { EntryType } from '../../src/storage/log-entry.js'
import { tempDir } from '../helpers/temp-dir.js'

const options = { fileSize: 16 * 1024, rewriteLagFiles: 1, logger: { warn() {} } }
const normal = { term: 1, data: new Uint8Array(10) }
const config = { term: 1, type: EntryType.Config, data: new Uint8Array(10) }

describe('LogEngine.configIndexes', () => {
  it('lists a group\'s configuration entries through appends, truncations, compactions, resets and a reopen', () => {
    const dir = tempDir()
    let engine = LogEngine.open(dir, options)
    engine.createGroup(1)
    engine.createGroup(2)
    // Indexes 1..8: configurations at 2, 5 and 7.
    engine.append(1, [normal, config, normal, normal, config, normal, config, normal])
    engine.append(2, [normal, normal])
    expect(engine.configIndexes(1)).toEqual([2, 5, 7])
    expect(engine.configIndexes(1, 3)).toEqual([5, 7])
    expect(engine.configIndexes(2)).toEqual([])
    engine.truncateAfter(1, 6)
    expect(engine.configIndexes(1)).toEqual([2, 5])
    // A conflict overwrites 5 onwards with a normal entry.
    engine.append(1, [normal], 5)
    expect(engine.configIndexes(1)).toEqual([2])
    engine.append(1, [config, normal])
    expect(engine.configIndexes(1)).toEqual([2, 6])
    engine.compact(1, 3)
    expect(engine.configIndexes(1)).toEqual([6])
    engine.flushSync()
    engine.close()
    engine = LogEngine.open(dir, options)
    expect(engine.configIndexes(1)).toEqual([6])
    engine.reset(1, 20, 1)
    expect(engine.configIndexes(1)).toEqual([])
    engine.append(1, [config])
    expect(engine.configIndexes(1)).toEqual([20])
    engine.close()
  })

  it('keeps them when a purge rewrites a lagging group forward', () => {
    const dir = tempDir()
    let engine = LogEngine.open(dir, options)
    engine.createGroup(1)
    engine.createGroup(2)
    engine.append(1, [normal, config, normal])
    engine.flushSync()
    // Group 2 fills files until group 1 lags behind them.
    for (let i = 0; i < 60; i++) {
      engine.append(2, [{ term: 1, data: new Uint8Array(1000) }])
      engine.flushSync()
    }
    engine.compact(2, 59)
    const report = engine.purge()
    expect(report.rewrittenGroups).toContain(1)
    expect(report.freedFiles.length).toBeGreaterThan(0)
    expect(engine.configIndexes(1)).toEqual([2])
    engine.close()
    engine = LogEngine.open(dir, options)
    expect(engine.configIndexes(1)).toEqual([2])
    engine.close()
  })
})
