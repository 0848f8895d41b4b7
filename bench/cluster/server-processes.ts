// The server processes a benchmark starts, and the promise that none outlives it: they are stopped
// on the normal way out, on an error, on Ctrl-C or SIGTERM, and killed as the driver exits.
import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, openSync, readFileSync } from 'node:fs'

/** How long a server may take to stop after SIGTERM before it is killed. */
const stopGraceMs = 5000
/** Lines of a server's log shown when it died under the benchmark. */
const logTailLines = 20

export interface ServerProcess {
  /** For messages: "raftlog node 2", "etcd member m1". */
  name: string
  pid: number
  logPath: string
  child: ChildProcess
}

export class ServerProcesses {
  private readonly servers: ServerProcess[] = []
  private readonly killOnExit = (): void => this.killAll()

  constructor() {
    // The last resort, synchronous as an 'exit' listener must be: whatever still runs is killed.
    process.on('exit', this.killOnExit)
  }

  /**
   * Starts `command`, its stdout and stderr appended to `logPath`. With `stdinPipe`, its stdin is
   * a pipe from this process, which closes however this process ends.
   */
  start(name: string, command: string, args: string[], logPath: string, options: { env?: NodeJS.ProcessEnv; stdinPipe?: boolean } = {}): ServerProcess {
    const log = openSync(logPath, 'a')
    const child = spawn(command, args, { env: options.env ?? process.env, stdio: [options.stdinPipe === true ? 'pipe' : 'ignore', log, log] })
    closeSync(log)
    // A failed spawn also emits 'error', which would end the driver unhandled; the throw below says it.
    child.on('error', () => {})
    if (child.pid === undefined) throw new Error(`Could not start ${name} (${command}): no process id`)
    const server: ServerProcess = { name, pid: child.pid, logPath, child }
    this.servers.push(server)
    return server
  }

  /** Throws, naming the server and showing the end of its log, when one of them has exited. */
  assertAlive(): void {
    for (const server of this.servers) {
      const { exitCode, signalCode } = server.child
      if (exitCode !== null || signalCode !== null) {
        throw new Error(`${server.name} (pid ${server.pid}) exited (${exitCode === null ? signalCode : `code ${exitCode}`}); the end of its log ${server.logPath}:\n${tail(server.logPath)}`)
      }
    }
  }

  /** SIGTERM to every server, SIGKILL to those still running after the grace period. */
  async stopAll(): Promise<void> {
    const running = this.servers.filter((server) => server.child.exitCode === null && server.child.signalCode === null)
    const exited = running.map((server) => new Promise((resolve) => server.child.once('exit', resolve)))
    for (const server of running) server.child.kill('SIGTERM')
    const graceOver = new Promise((resolve) => setTimeout(resolve, stopGraceMs).unref())
    await Promise.race([Promise.all(exited), graceOver])
    this.killAll()
    await Promise.all(exited)
    process.removeListener('exit', this.killOnExit)
  }

  private killAll(): void {
    for (const server of this.servers) {
      if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL')
    }
  }
}

function tail(path: string): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-logTailLines).join('\n')
  } catch (error) {
    return `(could not read it: ${(error as Error).message})`
  }
}
