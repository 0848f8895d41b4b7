// The key-value store's history (etcd's data model): revisions, per-key create/mod revision and
// version, reads at past revisions, compaction; checked against a model that keeps every
// revision's whole map.
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { MvccStore, type KeyEvent } from '../../src/kv/mvcc-store.js'

const put = (store: MvccStore, key: string, value: string): void => void store.write(() => store.put(key, value))
const del = (store: MvccStore, key: string): void => void store.write(() => store.delete(key))
const show = (event: KeyEvent): string => `${event.key}=${event.change.value ?? 'DELETE'}`

/** The keys from `start` to `end` ('' : no end) at `revision`, as [key, value, create, mod, version]. */
function rangeAt(store: MvccStore, start: string, end: string, revision: number): [string, string, number, number, number][] {
  const out: [string, string, number, number, number][] = []
  store.range(start, end, revision, (key, change) => {
    out.push([key, change.value as string, change.create, change.mod, change.version])
  })
  return out
}

describe('MvccStore', () => {
  it('starts at revision 1 and gives each write that changes something the next revision', () => {
    const store = new MvccStore()
    expect(store.revision).toBe(1)
    put(store, 'a', '1')
    expect(store.revision).toBe(2)
    del(store, 'missing')
    expect(store.revision).toBe(2)
    store.write(() => {
      store.put('b', '1')
      store.put('c', '1')
    })
    expect(store.revision).toBe(3)
    expect(rangeAt(store, 'a', '', 3)).toEqual([
      ['a', '1', 2, 2, 1],
      ['b', '1', 3, 3, 1],
      ['c', '1', 3, 3, 1],
    ])
  })

  it('keeps create revision and counts versions; a delete resets both', () => {
    const store = new MvccStore()
    put(store, 'k', 'v1') // 2
    put(store, 'k', 'v2') // 3
    expect(rangeAt(store, 'k', '', 3)).toEqual([['k', 'v2', 2, 3, 2]])
    del(store, 'k') // 4
    expect(store.get('k')).toBeUndefined()
    put(store, 'k', 'v3') // 5
    expect(rangeAt(store, 'k', '', 5)).toEqual([['k', 'v3', 5, 5, 1]])
    expect(store.size).toBe(1)
  })

  it('reads every retained revision as it was', () => {
    const store = new MvccStore()
    put(store, 'k', 'v1')
    put(store, 'k', 'v2')
    del(store, 'k')
    put(store, 'k', 'v3')
    expect([1, 2, 3, 4, 5].map((revision) => store.getAt('k', revision)?.value)).toEqual([undefined, 'v1', 'v2', undefined, 'v3'])
  })

  it('compacts up to a revision: that revision stays readable, older ones are refused, deleted keys are dropped', () => {
    const store = new MvccStore()
    put(store, 'k', 'v1') // 2
    put(store, 'gone', 'x') // 3
    put(store, 'k', 'v2') // 4
    del(store, 'gone') // 5
    put(store, 'k', 'v3') // 6
    store.compact(5)
    expect([store.compactRevision, store.firstEventRevision]).toEqual([5, 5])
    expect(store.getAt('k', 5)?.value).toBe('v2')
    expect(store.getAt('k', 6)?.value).toBe('v3')
    expect(store.getAt('gone', 5)).toBeUndefined()
    // The delete made at the compaction point stays until the next compaction: a watch from 5
    // (etcd's answer to one that was compacted) sees every event of 5 on.
    expect(store.eventsSince('', '', 5).map((e) => `${e.key}@${e.change.mod}:${e.change.value ?? 'DELETE'}`)).toEqual(['gone@5:DELETE', 'k@6:v3'])
    expect(() => store.eventsSince('', '', 4)).toThrow(expect.objectContaining({ code: 'ERR_COMPACTED', message: 'Revision 4 was compacted: events are kept from revision 5' }))
    expect(store.sortedKeys()).toEqual(['gone', 'k'])
    expect(store.size).toBe(1)
    const captured = new MvccStore()
    captured.load(store.capture())
    expect(captured.eventsSince('', '', 5)).toEqual(store.eventsSince('', '', 5))
    // One write that deletes a key and puts it again: both events stay at its compaction point.
    store.write(() => {
      store.delete('k')
      store.put('k', 'v4')
    }) // 7
    store.compact(7)
    expect(store.eventsSince('', '', 7).map((e) => `${e.key}@${e.change.mod}:${e.change.value ?? 'DELETE'}`)).toEqual(['k@7:DELETE', 'k@7:v4'])
    expect(store.getAt('k', 7)?.value).toBe('v4')
    expect(store.sortedKeys()).toEqual(['k'])
    expect(() => store.checkReadable(6)).toThrow(expect.objectContaining({ code: 'ERR_COMPACTED' }))
    expect(() => store.checkReadable(8)).toThrow(expect.objectContaining({ code: 'ERR_FUTURE_REVISION' }))
    expect(() => store.compact(7)).toThrow(expect.objectContaining({ code: 'ERR_COMPACTED' }))
    expect(() => store.compact(8)).toThrow(expect.objectContaining({ code: 'ERR_FUTURE_REVISION' }))
    store.checkReadable(7)
  })

  it('answers like a model holding every revision, before and after compaction, for any sequence of writes', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('put' as const), key: fc.constantFrom('a', 'b', 'c', 'ab'), value: fc.string({ maxLength: 3 }) }),
      fc.record({ kind: fc.constant('delete' as const), key: fc.constantFrom('a', 'b', 'c', 'ab') }),
      fc.record({ kind: fc.constant('compact' as const), back: fc.nat(5) }),
    )
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const store = new MvccStore()
        // The model: the whole map at each revision, and each key's create revision and version.
        const maps = new Map<number, Map<string, string>>([[1, new Map()]])
        const meta = new Map<string, { create: number; mod: number; version: number }>()
        const metaAt = new Map<number, Map<string, { create: number; mod: number; version: number }>>([[1, new Map()]])
        let revision = 1
        let compacted = 0
        for (const o of ops) {
          if (o.kind === 'compact') {
            const target = revision - o.back
            if (target > compacted && target >= 1) {
              store.compact(target)
              compacted = target
            }
            continue
          }
          const current = new Map(maps.get(revision))
          if (o.kind === 'put') {
            put(store, o.key, o.value)
            const before = meta.get(o.key)
            revision++
            current.set(o.key, o.value)
            meta.set(o.key, { create: before?.create ?? revision, mod: revision, version: (before?.version ?? 0) + 1 })
          } else {
            del(store, o.key)
            if (!current.has(o.key)) continue
            revision++
            current.delete(o.key)
            meta.delete(o.key)
          }
          maps.set(revision, current)
          metaAt.set(revision, new Map(meta))
        }
        expect(store.revision).toBe(revision)
        for (let r = Math.max(1, compacted); r <= revision; r++) {
          const expected = [...(maps.get(r) as Map<string, string>)].sort(([a], [b]) => (a < b ? -1 : 1)).map(([key, value]) => {
            const m = metaAt.get(r)?.get(key) as { create: number; mod: number; version: number }
            return [key, value, m.create, m.mod, m.version]
          })
          expect(rangeAt(store, '', '', r)).toEqual(expected)
        }
      }),
    )
  })

  it("gives a write's events in the order it made its changes (etcd's sub-revisions), as it happens and replayed", () => {
    const store = new MvccStore()
    put(store, 'b', 'old') // 2
    const heard: string[][] = []
    store.onWrite((_revision, events) => heard.push(events().map(show)))
    store.write(() => {
      store.put('c', '1')
      store.delete('b')
      store.put('a', '1')
      store.put('b', 'again') // a delete then a put of one key: two events, in that order
      store.put('c', '2') // the same key put twice: one event, at the later put's place
    })
    const inOrder = ['b=DELETE', 'a=1', 'b=again', 'c=2']
    expect(heard).toEqual([inOrder])
    expect(store.eventsSince('', '', 3).map(show)).toEqual(inOrder)
  })

  it('compacts up to 0 once on a store never compacted, as etcd, through capture and load too', () => {
    const store = new MvccStore()
    put(store, 'k', 'v')
    const fresh = new MvccStore()
    fresh.load(store.capture())
    store.compact(0)
    expect(store.compactRevision).toBe(0)
    expect(() => store.compact(0)).toThrow(expect.objectContaining({ code: 'ERR_COMPACTED' }))
    const loaded = new MvccStore()
    loaded.load(store.capture())
    expect(() => loaded.compact(0)).toThrow(expect.objectContaining({ code: 'ERR_COMPACTED' }))
    fresh.compact(0)
    expect(() => store.compact(-1)).toThrow(expect.objectContaining({ code: 'ERR_COMPACTED' }))
  })

  it('captures a state that later writes do not change', () => {
    const store = new MvccStore()
    put(store, 'k', 'v1')
    const captured = store.capture()
    put(store, 'k', 'v2')
    store.compact(3)
    const restored = new MvccStore()
    restored.load(captured)
    expect(restored.revision).toBe(2)
    expect(restored.get('k')?.value).toBe('v1')
  })
})
