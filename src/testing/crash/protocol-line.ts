// How a crash-test writer (writer.ts, snapshot-writer.ts) tells the parent what it does: one line
// on stdout, in the pipe before the writer takes its next step, so that a SIGKILL at any later
// moment loses none of it. The parent reads the lines even after the writer died: the kernel keeps
// what is in the pipe.
//
// process.stdout.write() does not promise that. Node writes to a pipe at once only while the pipe
// has room; when the parent has fallen behind (a loaded machine: a few hundred small lines fill a
// spawn() pipe, which is a socket pair), it queues the line inside the writer and goes on. A SIGKILL
// then loses the queue, and the parent's model misses, say, the W lines of the last appends:
// entries that were written, and survive the kill, are then reported as "never written".
import { writeSync } from 'node:fs'

const stdoutFd = 1
/** Something to wait on while the pipe is full (stdout may be non-blocking). */
const pause = new Int32Array(new SharedArrayBuffer(4))

/**
 * Writes `line` and a newline to stdout, all of it, before returning: waits while the pipe is
 * full. Use it for every line of the protocol and never mix it with process.stdout.write(), whose
 * queued lines it would overtake.
 */
export function sayLine(line: string): void {
  const bytes = Buffer.from(`${line}\n`)
  let written = 0
  while (written < bytes.length) {
    try {
      written += writeSync(stdoutFd, bytes, written, bytes.length - written)
    } catch (error) {
      // A non-blocking stdout (anything that touched process.stdout makes it so) says EAGAIN when full.
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error
      Atomics.wait(pause, 0, 0, 1)
    }
  }
}
