// Progress of a long command on stderr: a bar (cli-progress) when stderr is a terminal, else a
// plain count now and then, so a log file or a pipe gets lines, not escape codes.
import cliProgress from 'cli-progress'

export interface Progress {
  update(done: number): void
  stop(): void
}

/** How often the plain count is printed. */
const plainIntervalMs = 1000

export function progressOn(stream: NodeJS.WriteStream, total: number, what: string): Progress {
  if (stream.isTTY === true) {
    const bar = new cliProgress.SingleBar(
      { stream, format: `${what} [{bar}] {percentage}% | {value}/{total} | {eta_formatted} left`, hideCursor: true, clearOnComplete: false, etaBuffer: 50 },
      cliProgress.Presets.shades_classic,
    )
    bar.start(total, 0)
    return { update: (done) => bar.update(done), stop: () => bar.stop() }
  }
  let last = Date.now()
  return {
    update(done) {
      if (Date.now() - last < plainIntervalMs) return
      last = Date.now()
      stream.write(`${what}: ${done} of ${total}\n`)
    },
    // The caller prints the final count.
    stop() {},
  }
}
