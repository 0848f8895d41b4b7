// A closed-loop load: `clients` loops in this process, each sending its next operation as soon
// as the previous one answered, for a fixed time.

export interface LoopResult {
  /** Operations answered without error. */
  ops: number
  errors: number
  /** The first error's message, to say what went wrong. */
  firstError: string | undefined
  seconds: number
  /** One per answered operation, from send to answer. */
  latenciesMs: number[]
}

/** `operation(n, client)` gets a number unique within the run, for picking a key, and its loop's number (0..clients-1). */
export async function closedLoop(clients: number, seconds: number, operation: (n: number, client: number) => Promise<unknown>): Promise<LoopResult> {
  const latenciesMs: number[] = []
  let errors = 0
  let firstError: string | undefined
  let next = 0
  const started = performance.now()
  const deadline = started + seconds * 1000
  const client = async (_: unknown, index: number): Promise<void> => {
    while (performance.now() < deadline) {
      const begun = performance.now()
      try {
        await operation(next++, index)
        latenciesMs.push(performance.now() - begun)
      } catch (error) {
        errors++
        firstError ??= (error as Error).message
      }
    }
  }
  await Promise.all(Array.from({ length: clients }, client))
  return { ops: latenciesMs.length, errors, firstError, seconds: (performance.now() - started) / 1000, latenciesMs }
}

/** Runs `operation` once for each of 0..count-1, at most `concurrency` at a time. */
export async function forEachConcurrently(count: number, concurrency: number, operation: (n: number) => Promise<unknown>): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < count) await operation(next++)
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker))
}
