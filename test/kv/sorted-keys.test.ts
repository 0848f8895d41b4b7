// The store's keys in byte order (src/kv/sorted-keys.ts): always what sorting every key would
// give, and a few keys added between reads do not sort them all again (a lock's acquire adds one
// key and reads its prefix: in a store of 11,000 keys that sort was 0.36 ms per acquire of a new key).
import { describe, expect, it } from 'vitest'
import { lowerBound, SortedKeys, upperBound } from '../../src/kv/sorted-keys.js'
import { MvccStore } from '../../src/kv/mvcc-store.js'
import { seededRandom as random } from '../../src/raft/core/seeded-random.js'

describe('SortedKeys', () => {
  it('gives every key in byte order after any mix of adds, drops and reads (against sorting them all)', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const next = random(seed)
      const present = new Set<string>()
      const sorted = new SortedKeys(() => present)
      for (let step = 0; step < 5000; step++) {
        const roll = next()
        // Bursts over the in-place limit now and then, and keys dropped and added back between reads.
        const changes = roll < 0.02 ? 200 : Math.floor(next() * 4)
        for (let i = 0; i < changes; i++) {
          const key = String.fromCharCode(...Array.from({ length: 1 + Math.floor(next() * 3) }, () => 0x61 + Math.floor(next() * 6)), ...(next() < 0.1 ? [0xff] : []))
          if (present.has(key)) {
            present.delete(key)
            sorted.drop(key)
          } else {
            present.add(key)
            sorted.add(key)
          }
        }
        if (roll > 0.5) expect(sorted.keys()).toEqual(Array.from(present).sort())
        if (roll > 0.999) {
          sorted.reset()
          expect(sorted.keys()).toEqual(Array.from(present).sort())
        }
      }
    }
  })

  it('puts a few new keys in place instead of sorting every key again', () => {
    const present = new Set(Array.from({ length: 10_000 }, (_, i) => `key-${String(i).padStart(5, '0')}`))
    let sorts = 0
    const sorted = new SortedKeys(() => {
      sorts++
      return present
    })
    sorted.reset()
    expect(sorted.keys()).toHaveLength(10_000)
    expect(sorts).toBe(1)
    for (let i = 0; i < 100; i++) {
      const key = `lock/${i}`
      present.add(key)
      sorted.add(key)
      expect(sorted.keys()[lowerBound(sorted.keys(), key)]).toBe(key)
      present.delete(key)
      sorted.drop(key)
    }
    expect(sorts).toBe(1)
    // A bulk load: sorted once, at the next read.
    for (let i = 0; i < 1000; i++) {
      present.add(`bulk/${i}`)
      sorted.add(`bulk/${i}`)
    }
    expect(sorted.keys()).toEqual(Array.from(present).sort())
    expect(sorts).toBe(2)
  })

  it('finds bounds in sorted keys', () => {
    const keys = ['a', 'b', 'b', 'd']
    expect([lowerBound(keys, 'b'), upperBound(keys, 'b'), lowerBound(keys, 'c'), upperBound(keys, 'e')]).toEqual([1, 3, 3, 4])
  })
})

describe('MvccStore ranges over keys added, deleted, undone and compacted between reads', () => {
  it('goes on after the key it was at when a range callback writes a key and reads again (the order changes in place)', () => {
    const store = new MvccStore()
    store.write(() => ['a', 'c', 'e'].forEach((key) => store.put(key, key)))
    const revision = store.revision
    const seen: string[] = []
    store.write(() =>
      store.range('', '', revision, (key) => {
        seen.push(key)
        if (key === 'c') {
          store.put('b', 'new')
          store.put('d', 'new')
          store.range('', '', revision, () => {})
        }
      }),
    )
    expect(seen).toEqual(['a', 'c', 'e'])
    const now: string[] = []
    store.range('', '', store.revision, (key) => void now.push(key))
    expect(now).toEqual(['a', 'b', 'c', 'd', 'e'])
  })

  it('drops a key a failed write added after a read put it in order, and takes a snapshot load whole', () => {
    const store = new MvccStore()
    store.write(() => ['a', 'c'].forEach((key) => store.put(key, key)))
    const keysNow = (): string[] => {
      const keys: string[] = []
      store.range('', '', store.revision, (key) => void keys.push(key))
      return keys
    }
    expect(keysNow()).toEqual(['a', 'c'])
    expect(() =>
      store.write(() => {
        store.put('b', 'half')
        // Read inside the write (a lock acquire reads its prefix): 'b' is put in order, then undone.
        store.range('', '', store.revision, () => {})
        throw new Error('refused')
      }),
    ).toThrow('refused')
    expect(keysNow()).toEqual(['a', 'c'])
    const other = new MvccStore()
    other.write(() => ['z', 'y', 'x'].forEach((key) => other.put(key, key)))
    store.load(other.capture())
    expect(keysNow()).toEqual(['x', 'y', 'z'])
  })

  it('answers the keys that exist, in byte order, at every step', () => {
    const next = random(42)
    const store = new MvccStore()
    const model = new Map<string, string>()
    const keys = Array.from({ length: 40 }, (_, i) => `k${String.fromCharCode(0x61 + (i % 7))}${i}`)
    for (let step = 0; step < 3000; step++) {
      const key = keys[Math.floor(next() * keys.length)] as string
      const roll = next()
      if (roll < 0.5) {
        const value = `v${step}`
        store.write(() => store.put(key, value))
        model.set(key, value)
      } else if (roll < 0.8) {
        store.write(() => store.delete(key))
        model.delete(key)
      } else if (roll < 0.9) {
        // A write that fails is undone: its new key goes again.
        expect(() =>
          store.write(() => {
            store.put(`${key}-undone`, 'x')
            throw new Error('refused')
          }),
        ).toThrow('refused')
      } else if (store.revision > store.compactRevision) store.compact(store.revision)
      const seen: [string, string][] = []
      store.range('', '', store.revision, (k, change) => {
        seen.push([k, change.value as string])
      })
      expect(seen).toEqual(Array.from(model).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    }
  })
})
