// What a reconnecting stream (a watch, an election's observer) hands its consumer: items queued
// as they arrive, read with `for await`, ended by close() (or a `break`) or by a failure, which
// the loop throws once the items before it are read.
import type { RaftLogError } from '../../../errors.js'

export class StreamQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = []
  private failure: RaftLogError | undefined
  private ended = false
  private wake: (() => void) | undefined

  /** `onClose` runs once, when the queue ends for any reason (it stops the stream behind it). */
  constructor(private readonly onClose: () => void) {}

  get closed(): boolean {
    return this.ended
  }

  /** The last item queued and not yet read, if any. */
  get last(): T | undefined {
    return this.items.at(-1)
  }

  push(item: T): void {
    if (this.ended) return
    this.items.push(item)
    this.notify()
  }

  /** Ends the queue with `error`: the consumer reads what was queued, then gets it thrown. */
  fail(error: RaftLogError): void {
    this.failure ??= error
    this.close()
  }

  close(): void {
    if (this.ended) return
    this.ended = true
    this.onClose()
    this.notify()
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    try {
      for (;;) {
        const item = this.items.shift()
        if (item !== undefined) {
          yield item
          continue
        }
        if (this.failure !== undefined) throw this.failure
        if (this.ended) return
        await new Promise<void>((resolve) => (this.wake = resolve))
      }
    } finally {
      this.close()
    }
  }

  private notify(): void {
    this.wake?.()
    this.wake = undefined
  }
}
