// Runs a crash-test writer child process until it kills itself, feeding its stdout lines to the
// parent's model as they come.
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'

/**
 * Runs the compiled writer at `path` with `config` (as JSON) until it is SIGKILLed; resolves with
 * a problem description if it ended otherwise. The hang timer starts at the writer's first line
 * starting with `O ` (it opened its log), so start-up time does not count. With `killAfterMs`, the
 * parent itself kills the writer that long after that line, wherever the writer is.
 */
export function runWriterProcess(path: string, config: unknown, onLine: (line: string) => void, timeoutMs: number, killAfterMs?: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path, JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    let timer: NodeJS.Timeout | undefined
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    let hung = false
    createInterface({ input: child.stdout }).on('line', (line) => {
      onLine(line)
      if (line.startsWith('O ') && timer === undefined) {
        timer =
          killAfterMs === undefined
            ? setTimeout(() => {
                hung = true
                child.kill('SIGKILL')
              }, timeoutMs)
            : setTimeout(() => child.kill('SIGKILL'), killAfterMs)
      }
    })
    child.on('close', (code, signal) => {
      if (timer !== undefined) clearTimeout(timer)
      if (hung) resolve(`the writer did not reach its kill point within ${timeoutMs} ms`)
      else if (signal === 'SIGKILL') resolve(undefined)
      else resolve(`the writer exited on its own (code ${code}, signal ${signal}): ${stderr.trim().split('\n').slice(0, 3).join(' | ')}`)
    })
  })
}
