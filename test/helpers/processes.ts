// Real `raftlog node` processes for end-to-end tests: free ports, a cluster configuration, nodes
// started and stopped as a user would, and a guarantee that none outlives the test worker.
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll } from 'vitest'
import { cliPath, runCli } from './cli.js'
import { freePorts } from '../../bench/cluster/free-port.js'

const children = new Set<ChildProcess>()

function killChildren(): void {
  for (const child of children) child.kill('SIGKILL')
}
afterAll(killChildren)
// Also when vitest ends this worker without running hooks (a timeout, Ctrl-C): no orphaned nodes.
process.on('exit', killChildren)

/** A TCP port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))))
    })
  })
}

// Ports for a cluster: `count` different ones, held open together while picked (the benches' helper).
export { freePorts }

/**
 * cluster.yaml in `dir` for `size` nodes on free ports; `settings` are extra cluster_settings
 * lines; with `metrics`, each node also gets a free metrics_port.
 */
export async function writeConfig(dir: string, size: number, settings: Record<string, string | number> = {}, options: { metrics?: boolean } = {}): Promise<{ path: string; ports: number[]; metricsPorts: number[] }> {
  // Held open together: ports taken one after another can repeat (seen once in a full run).
  const all = await freePorts(options.metrics === true ? 2 * size : size)
  const ports = all.slice(0, size)
  const metricsPorts = all.slice(size)
  const path = join(dir, 'cluster.yaml')
  const metrics = (i: number): string => (options.metrics === true ? `, metrics_port: ${metricsPorts[i]}` : '')
  const nodes = ports.map((port, i) => `  - { node_id: ${i + 1}, ip_address: "127.0.0.1", port: ${port}${metrics(i)} }`).join('\n')
  const values = { log_directory: '"./logs"', log_segment_size: 1048576, election_timeout_range: '{ min: 150, max: 300 }', heartbeat_interval: 30, ...settings }
  writeFileSync(path, `nodes:\n${nodes}\ncluster_settings:\n${Object.entries(values).map(([key, value]) => `  ${key}: ${value}`).join('\n')}\n`)
  return { path, ports, metricsPorts }
}

export interface NodeProcess {
  child: ChildProcess
  output: string[]
}

/** `raftlog node --node-id id --config config --log-format json [extra]`, its output lines gathered. */
export function startNode(config: string, id: number, extra: string[] = []): NodeProcess {
  const child = spawn(process.execPath, [cliPath, 'node', '--node-id', String(id), '--config', config, '--log-format', 'json', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  child.on('exit', () => children.delete(child))
  const output: string[] = []
  child.stdout!.on('data', (chunk: Buffer) => output.push(...chunk.toString().trim().split('\n')))
  child.stderr!.on('data', (chunk: Buffer) => output.push(...chunk.toString().trim().split('\n')))
  return { child, output }
}

/**
 * `raftlog cluster --config config [options]`, its stdout and stderr gathered in `output.text`.
 * With `ownGroup`, in a process group of its own, as a terminal runs it: `process.kill(-pid,
 * 'SIGINT')` is then a Ctrl-C, which every process of the group gets.
 */
export function startCluster(config: string, options: string[] = [], ownGroup = false): { child: ChildProcess; output: { text: string } } {
  const child = spawn(process.execPath, [cliPath, 'cluster', '--config', config, ...options], { stdio: ['ignore', 'pipe', 'pipe'], detached: ownGroup })
  children.add(child)
  const output = { text: '' }
  child.stdout!.on('data', (chunk: Buffer) => (output.text += chunk.toString()))
  child.stderr!.on('data', (chunk: Buffer) => (output.text += chunk.toString()))
  return { child, output }
}

export interface StatusLine {
  id: number
  reachable: boolean
  role: string
  term: number
  leaderId: number
  commitIndex: number
  lastApplied: number
  firstIndex: number
  lastIndex: number
}

/** `raftlog status --json`. */
export async function statuses(config: string): Promise<StatusLine[]> {
  const result = await runCli(['status', '--config', config, '--json', '--timeout', '1000'])
  // Said with what status wrote to stderr: a bare JSON error would hide why it printed nothing.
  if (result.stdout.trim() === '') throw new Error(`raftlog status printed nothing (exit ${result.status}): ${result.stderr}`)
  return JSON.parse(result.stdout) as StatusLine[]
}

/** Polls `probe` until it returns a value (not undefined). */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

export function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(child.exitCode) : child.on('exit', (code) => resolve(code))))
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
