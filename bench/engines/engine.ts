/** What every engine in the side-by-side benchmark offers: the smallest common log interface. */
export interface LogEngine {
  readonly name: string
  /** True when appendBatch returns a Promise (the benchmark then awaits it). */
  readonly asyncAppend: boolean
  /** Appends a batch after the last index (no-sync engines stop here; durable ones wait for flush). */
  appendBatch(entries: Uint8Array[], term: number): void | Promise<void>
  /** Makes every appended batch durable. */
  flush(): void | Promise<void>
  /**
   * The payload at `index` (1-based), or undefined: a copy the caller may keep, made once, on the
   * calling thread (every engine here can read synchronously, so no thread-pool round trip counts).
   */
  get(index: number): Uint8Array | undefined
  lastIndex(): number
  close(): void | Promise<void>
}

export interface EngineOptions {
  /** Durable mode: flush() syncs to disk. No-sync mode: it returns at once. */
  durable: boolean
}

/** Opens (creating) a log of one engine in `dir`. */
export interface EngineFactory {
  name: string
  open(dir: string, options: EngineOptions): Promise<LogEngine>
}
