// A poll repeated every so often, never overlapping itself: a slow poll (nodes timing out) is
// not joined by the next one, which waits for its turn. The status pages' watches poll this way.

export class Poller {
  private timer: NodeJS.Timeout | undefined
  private polling = false

  /** `poll` every `intervalMs` ms once started; its failures are its own to report (they are dropped here). */
  constructor(
    private readonly intervalMs: number,
    private readonly poll: () => Promise<void>,
  ) {}

  /** Polls now, then every interval until stop(). */
  start(): void {
    if (this.timer !== undefined) return
    const tick = (): void => {
      if (this.polling) return
      this.polling = true
      this.poll()
        .catch(() => {})
        .finally(() => (this.polling = false))
    }
    tick()
    this.timer = setInterval(tick, this.intervalMs)
  }

  stop(): void {
    clearInterval(this.timer)
    this.timer = undefined
  }
}
