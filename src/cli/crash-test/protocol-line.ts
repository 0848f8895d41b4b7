// How a crash-test writer tells the parent what it is about to do and what is durable: one line
// on stdout, out of the process before the next step runs, so that a SIGKILL right after it can
// never take it back. process.stdout.write cannot promise that: once the pipe is full (a fast
// writer, a busy parent), it queues lines in the process, and a kill loses them; the parent then
// misses what was written, truncated or acknowledged. A blocking write on descriptor 1 waits for
// room in the pipe instead.
import { writeSync } from 'node:fs'

/** Writes `line` and a newline to stdout, all of it, before returning. */
export function sayLine(line: string): void {
  const bytes = Buffer.from(`${line}\n`)
  for (let done = 0; done < bytes.length; ) {
    try {
      done += writeSync(1, bytes, done, bytes.length - done)
    } catch (error) {
      // A descriptor made non-blocking by someone else: wait for room, as a blocking write would.
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error
    }
  }
}
