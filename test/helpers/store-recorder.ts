// Records the stores code makes into a segment's memory, in order, so that a test can rebuild
// every state a process killed part way can leave: a prefix of the stores, where one memcpy or
// memset (a Buffer or TypedArray method call) lands its bytes in any order, so any subset of them.
import { prng } from '../../src/testing/crash/payload.js'

export interface Store {
  positions: number[]
  values: number[]
  /** One call of a method (memcpy, memset, writeUInt32LE…): its bytes land in any order. */
  bulk: boolean
}

export class StoreRecorder {
  readonly stores: Store[] = []
  readonly before: Buffer
  /** Use these in place of the real views: every write through them is recorded, then made. */
  readonly bytes: Buffer
  readonly words: Uint32Array

  constructor(bytes: Buffer, words: Uint32Array) {
    this.before = Buffer.from(bytes)
    const stores = this.stores
    this.bytes = new Proxy(bytes, {
      get(target, key) {
        const value = Reflect.get(target, key, target) as unknown
        if (typeof value !== 'function') return value
        return (...args: unknown[]) => {
          const snapshot = Buffer.from(target)
          const result = (value as (...a: unknown[]) => unknown).apply(target, args)
          const store: Store = { positions: [], values: [], bulk: true }
          for (let i = 0; i < target.length; i++) {
            if (target[i] !== snapshot[i]) {
              store.positions.push(i)
              store.values.push(target[i] as number)
            }
          }
          if (store.positions.length > 0) stores.push(store)
          return result
        }
      },
      set(target, key, value) {
        if (typeof key === 'string' && /^\d+$/.test(key)) stores.push({ positions: [Number(key)], values: [Number(value) & 0xff], bulk: false })
        return Reflect.set(target, key, value, target)
      },
    })
    this.words = new Proxy(words, {
      set(target, key, value) {
        if (typeof key === 'string' && /^\d+$/.test(key)) {
          const at = 4 * Number(key)
          const word = Number(value) >>> 0
          // One 32-bit store: a kill lands before it or after it.
          stores.push({ positions: [at, at + 1, at + 2, at + 3], values: [word & 0xff, (word >>> 8) & 0xff, (word >>> 16) & 0xff, word >>> 24], bulk: false })
        }
        return Reflect.set(target, key, value, target)
      },
    })
  }
}

/** The page size the kernel copies a pwrite in: a kill stops it between two pages, never inside one. */
const pageBytes = 4096

/**
 * Swaps a Segment's views for recording ones, and records its pwrites too: one store per page (of
 * file offsets) a pwrite touches, in file order, since a killed process's pwrite stops between
 * pages. Call the returned function to put everything back.
 */
export function recordSegment(segment: object): { recorder: StoreRecorder; stop: () => void } {
  const inner = segment as { bytes: Buffer; words: Uint32Array; file: { write(bytes: Uint8Array, length: number, position: number): void } }
  const { bytes, words, file } = inner
  const recorder = new StoreRecorder(bytes, words)
  inner.bytes = recorder.bytes
  inner.words = recorder.words
  const write = file.write
  file.write = function (this: unknown, source: Uint8Array, length: number, position: number) {
    for (let at = position; at < position + length; ) {
      const end = Math.min(position + length, (Math.floor(at / pageBytes) + 1) * pageBytes)
      const store: Store = { positions: [], values: [], bulk: false }
      for (let i = at; i < end; i++) {
        store.positions.push(i)
        store.values.push(source[i - position] as number)
      }
      recorder.stores.push(store)
      at = end
    }
    write.call(this, source, length, position)
  }
  return {
    recorder,
    stop() {
      inner.bytes = bytes
      inner.words = words
      file.write = write
    },
  }
}

function apply(image: Buffer, store: Store, take: (position: number) => boolean = () => true): void {
  store.positions.forEach((position, i) => {
    if (take(i)) image[position] = store.values[i] as number
  })
}

/** Subsets of a bulk store's bytes: each prefix and suffix in file order (sampled when long), and random ones. */
function partialSubsets(store: Store, random: () => number): ((i: number) => boolean)[] {
  const count = store.positions.length
  const cuts = count <= 48 ? Array.from({ length: count - 1 }, (_, i) => i + 1) : Array.from({ length: 24 }, () => 1 + Math.floor(random() * (count - 1)))
  const subsets: ((i: number) => boolean)[] = []
  for (const cut of cuts) {
    subsets.push((i) => i < cut, (i) => i >= cut)
  }
  for (let k = 0; k < 6; k++) {
    const picks = Array.from({ length: count }, () => random() < 0.5)
    subsets.push((i) => picks[i] as boolean)
  }
  return subsets
}

/**
 * Every state a kill can leave, from `before` through `stores`: after each whole store, and inside
 * each bulk one (a subset of its bytes). Labels say where.
 */
export function killStates(before: Buffer, stores: readonly Store[], seed = 1): { image: Buffer; label: string }[] {
  const random = prng(seed)
  const states: { image: Buffer; label: string }[] = []
  const image = Buffer.from(before)
  stores.forEach((store, k) => {
    states.push({ image: Buffer.from(image), label: `before store ${k}` })
    if (store.bulk && store.positions.length > 1) {
      partialSubsets(store, random).forEach((take, s) => {
        const partial = Buffer.from(image)
        apply(partial, store, take)
        states.push({ image: partial, label: `inside store ${k} (subset ${s} of ${store.positions.length} bytes)` })
      })
    }
    apply(image, store)
  })
  states.push({ image: Buffer.from(image), label: `after all ${stores.length} stores` })
  return states
}

/** The image with each 512-byte sector in [from, end of file) that differs from `disk` kept or put back, by `random`. */
export function loseSectorsAfter(image: Buffer, disk: Buffer, from: number, random: () => number): Buffer {
  const out = Buffer.from(image)
  for (let sector = Math.floor(from / 512); sector * 512 < out.length; sector++) {
    if (random() < 0.5) {
      const start = Math.max(from, sector * 512)
      disk.copy(out, start, start, Math.min(out.length, (sector + 1) * 512))
    }
  }
  return out
}
