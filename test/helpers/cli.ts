import { vi } from 'vitest'
import { spawn } from 'node:child_process'
import { format } from 'node:util'
import { fileURLToPath } from 'node:url'

export const cliPath = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url))

export interface CliResult {
  status: number | null
  stdout: string
  stderr: string
}

/** Runs `raftlog <args>` as a user would: the compiled CLI in a child process. */
export function runCli(args: string[], options: { timeoutMs?: number; cwd?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...(options.cwd === undefined ? {} : { cwd: options.cwd }) })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`raftlog ${args.join(' ')} did not finish in ${options.timeoutMs ?? 60_000} ms\n${stdout}\n${stderr}`))
    }, options.timeoutMs ?? 60_000)
    child.on('close', (status) => {
      clearTimeout(timer)
      resolve({ status, stdout, stderr })
    })
  })
}

/** `raftlog <args>` with `input` on its standard input. */
export function runWithInput(args: string[], input: string | Buffer): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliPath, ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.on('close', (status) => resolve({ status, stdout, stderr }))
    child.stdin.end(input)
  })
}

/**
 * Runs `raftlog <args>` in this process, from the source under test: the same function the
 * compiled CLI runs, with what it writes to stdout and stderr captured. For the offline tools
 * (inspect, verify, dump, repair), whose every case would otherwise cost a process start.
 */
export async function runCliHere(args: string[]): Promise<CliResult> {
  const { runRaftlog } = await import('../../src/cli/run.js')
  let stdout = ''
  let stderr = ''
  const toStdout = (...parts: unknown[]): void => void (stdout += `${format(...parts)}\n`)
  const toStderr = (...parts: unknown[]): void => void (stderr += `${format(...parts)}\n`)
  const spies = [
    vi.spyOn(console, 'log').mockImplementation(toStdout),
    vi.spyOn(console, 'error').mockImplementation(toStderr),
    vi.spyOn(console, 'warn').mockImplementation(toStderr),
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((stdout += chunk.toString()), true)),
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((stderr += chunk.toString()), true)),
  ]
  try {
    return { status: await runRaftlog(args), stdout, stderr }
  } finally {
    for (const spy of spies) spy.mockRestore()
  }
}
