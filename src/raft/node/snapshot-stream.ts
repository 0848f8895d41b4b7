// What a state machine's snapshot() returns, and how it is read without being late.

/** Bytes, chunks of bytes, or a promise of either. */
export type SnapshotData = Uint8Array | AsyncIterable<Uint8Array> | Promise<Uint8Array | AsyncIterable<Uint8Array>>

/**
 * An async generator's body runs only when it is first read, by which time later entries may be
 * applied: asking for the first chunk now runs it up to its first await or yield, so a
 * generator that copies its state first copies the state as of this moment.
 */
export function startNow(produced: SnapshotData): SnapshotData {
  if (produced instanceof Uint8Array || produced instanceof Promise || typeof (produced as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] !== 'function') return produced
  const iterator = (produced as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]()
  const first = iterator.next()
  return {
    [Symbol.asyncIterator]: () => {
      let started = false
      return {
        next: () => {
          if (started) return iterator.next()
          started = true
          return first
        },
        return: async (value?: unknown) => (await iterator.return?.(value)) ?? { done: true as const, value: undefined },
      }
    },
  }
}

/** Any SnapshotData as a stream of chunks. */
export async function* chunksOf(data: SnapshotData): AsyncGenerator<Uint8Array> {
  const resolved = await data
  if (resolved instanceof Uint8Array) yield resolved
  else yield* resolved
}
