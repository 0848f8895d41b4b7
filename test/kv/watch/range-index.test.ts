// The index of range watches against a list looked through whole: random spans (ends below
// their start, and no end, included), added and removed, asked for random keys. Prints its seed.
import { describe, expect, it } from 'vitest'
import { RangeIndex } from '../../../src/kv/watch/range-index.js'
import { seededRandom as generator } from '../../../src/raft/core/seeded-random.js'

describe('RangeIndex', () => {
  it('finds the spans that cover a key, in the order added, as a look at every span does', () => {
    const seed = Number(process.env.SEED ?? Date.now() % 1_000_000)
    console.log(`range-index seed ${seed} (SEED=${seed} replays it)`)
    const random = generator(seed)
    const key = (): string => 'abcdef'.slice(0, 1 + Math.floor(random() * 3)).split('').map(() => 'abcd'[Math.floor(random() * 4)]).join('')
    const index = new RangeIndex<number>()
    const model = new Map<number, [string, string]>()
    let next = 0
    for (let step = 0; step < 5000; step++) {
      const choice = random()
      if (choice < 0.45) {
        const span: [string, string] = [key(), random() < 0.2 ? '' : key()]
        index.add(next, ...span)
        model.set(next++, span)
      } else if (choice < 0.7 && model.size > 0) {
        const ids = [...model.keys()]
        const id = ids[Math.floor(random() * ids.length)] as number
        index.remove(id)
        model.delete(id)
      } else {
        const keys = [key(), key()]
        const expected = [...model].filter(([, [start, end]]) => keys.some((k) => start <= k && (end === '' || k < end))).map(([id]) => id)
        expect(index.covering(keys), `seed ${seed}, step ${step}, keys ${keys.join(' ')}`).toEqual(expected)
      }
      expect(index.size).toBe(model.size)
    }
    expect([...index.values()]).toEqual([...model.keys()])
  })
})
