// The engine against a simple model: random appends (with conflicts), truncations, compactions,
// resets, hard states, group creation and removal, flushes, purges (with rewrites of lagging
// groups and freed files) and reopens, in small files so that files fill, rotate and go.
// Replay: RAFT_SEED=<seed> npx vitest run test/engine/log-engine.model.test.ts
import { describe, expect, it } from 'vitest'
import { LogEngine } from '../../src/engine/log-engine.js'
import { prng } from '../../src/testing/crash/payload.js'
import { tempDir } from '../helpers/temp-dir.js'

const seed = process.env.RAFT_SEED === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.RAFT_SEED)

interface ModelGroup {
  first: number
  prevTerm: number
  entries: Array<{ term: number; data: string }>
  hard: { term: number; vote: number; commit: number }
}

function check(engine: LogEngine, model: Map<number, ModelGroup>, where: string): void {
  expect(engine.groupIds().sort((a, b) => a - b), where).toEqual([...model.keys()].sort((a, b) => a - b))
  for (const [id, group] of model) {
    expect([engine.firstIndex(id), engine.lastIndex(id), engine.termAt(id, group.first - 1)], `${where} group ${id}`).toEqual([
      group.first,
      group.first + group.entries.length - 1,
      group.prevTerm,
    ])
    expect(engine.hardState(id), `${where} group ${id}`).toEqual(group.hard)
    const read = engine.entries(id, group.first).map((entry) => ({ term: entry.term, data: new TextDecoder().decode(entry.data) }))
    expect(read, `${where} group ${id}`).toEqual(group.entries)
  }
}

describe(`LogEngine against a model (RAFT_SEED=${seed})`, () => {
  it('random changes to 12 groups with purges and reopens read back as the model says', () => {
    const random = prng(seed)
    const pick = (n: number) => Math.floor(random() * n)
    const dir = tempDir()
    const options = { fileSize: 16 * 1024, maxBatchBytes: 4096, rewriteLagFiles: 2, rewriteMaxBytes: 6000, logger: { warn() {} } }
    let engine = LogEngine.open(dir, options)
    const model = new Map<number, ModelGroup>()
    let nextId = 1
    let rewrites = 0
    let freed = 0
    for (let step = 0; step < 3000; step++) {
      const choice = random()
      const ids = [...model.keys()]
      const id = ids[pick(ids.length)]
      const group = id === undefined ? undefined : model.get(id)
      const where = `step ${step} (RAFT_SEED=${seed})`
      if (id === undefined || group === undefined || (choice < 0.02 && model.size < 12)) {
        const fresh = nextId++
        engine.createGroup(fresh)
        model.set(fresh, { first: 1, prevTerm: 0, entries: [], hard: { term: 0, vote: 0, commit: 0 } })
      } else if (choice < 0.03 && model.size > 3) {
        engine.removeGroup(id)
        model.delete(id)
      } else if (choice < 0.6) {
        const last = group.first + group.entries.length - 1
        // Mostly at the end; sometimes a conflict a few entries back.
        const at = random() < 0.15 && group.entries.length > 0 ? last + 1 - pick(Math.min(group.entries.length, 5)) : last + 1
        const previousTerm = at - 1 >= group.first ? group.entries[at - 1 - group.first]!.term : group.prevTerm
        const term = previousTerm + (random() < 0.2 ? 1 : 0)
        const count = 1 + pick(4)
        const news = Array.from({ length: count }, (_, i) => ({ term, data: `${id}:${at + i}:${step}:${'x'.repeat(pick(300))}` }))
        engine.append(id, news.map((entry) => ({ term: entry.term, data: new TextEncoder().encode(entry.data) })), at)
        group.entries.splice(at - group.first, group.entries.length, ...news)
      } else if (choice < 0.65 && group.entries.length > 0) {
        const index = group.first - 1 + pick(group.entries.length)
        engine.truncateAfter(id, index)
        group.entries.splice(index + 1 - group.first)
      } else if (choice < 0.75 && group.entries.length > 0) {
        const upTo = group.first + pick(group.entries.length)
        engine.compact(id, upTo)
        group.prevTerm = group.entries[upTo - group.first]!.term
        group.entries.splice(0, upTo + 1 - group.first)
        group.first = upTo + 1
      } else if (choice < 0.77) {
        const next = group.first + group.entries.length + pick(10)
        const prevTerm = (group.entries.at(-1)?.term ?? group.prevTerm) + pick(2)
        engine.reset(id, next, prevTerm)
        Object.assign(group, { first: next, prevTerm, entries: [] })
      } else if (choice < 0.87) {
        const hard = { term: group.hard.term + pick(2), vote: pick(4), commit: group.hard.commit + pick(3) }
        engine.setHardState(id, hard)
        group.hard = hard
      } else if (choice < 0.93) {
        engine.flushSync()
      } else if (choice < 0.98) {
        const report = engine.purge()
        rewrites += report.rewrittenGroups.length
        freed += report.freedFiles.length
        check(engine, model, `${where} after purge`)
      } else {
        engine.close()
        engine = LogEngine.open(dir, options)
        check(engine, model, `${where} after reopen`)
      }
    }
    check(engine, model, 'end')
    engine.close()
    engine = LogEngine.open(dir, options)
    check(engine, model, 'end, reopened')
    // Purges did free files and rewrite groups, or the test proved little.
    expect(freed).toBeGreaterThan(0)
    expect(rewrites).toBeGreaterThan(0)
    expect(engine.describeFiles().length).toBeLessThan(40)
    engine.close()
  })
})
