// A real cluster driven through the CLI, for the tests of recovery and membership: nodes started
// (and killed) as processes, writes and reads through raftlog kv, members and status as JSON.
import { expect } from 'vitest'
import { runCli } from './cli.js'
import { exited, startNode, statuses, waitFor, writeConfig, type NodeProcess, type StatusLine } from './processes.js'

/** Nodes a test started: its afterEach kills what is left. */
export const running: NodeProcess[] = []

export interface Member {
  id: number
  address: string
  reachable: boolean
  suffrage?: string
  role?: string
}

/** `raftlog member list --json` through `endpoints` ([] when nobody answered). */
export async function members(endpoints: string[]): Promise<Member[]> {
  const result = await runCli(['member', 'list', '--json', '--endpoints', endpoints.join(','), '--timeout', '1000'])
  return result.stdout.trim() === '' ? [] : (JSON.parse(result.stdout) as Member[])
}

/** `raftlog status --json` through `endpoints`, for members not in the file. */
export async function statusesAt(endpoints: string[]): Promise<StatusLine[]> {
  const result = await runCli(['status', '--json', '--endpoints', endpoints.join(','), '--timeout', '1000'])
  return result.stdout.trim() === '' ? [] : (JSON.parse(result.stdout) as StatusLine[])
}

/** `raftlog kv put`, which must be acknowledged. */
export async function put(where: string[], key: string, value: string): Promise<void> {
  const result = await runCli(['kv', 'put', key, value, ...where])
  expect(result, result.stderr).toMatchObject({ status: 0, stdout: 'OK\n' })
}

/** Three nodes, a leader, `count` acknowledged writes that every node has applied. */
export async function threeNodesWithWrites(dir: string, count: number, settings: Record<string, string | number> = {}): Promise<{ config: string; ports: number[]; nodes: NodeProcess[]; leader: number; written: Map<string, string> }> {
  const { path: config, ports } = await writeConfig(dir, 3, settings)
  const nodes = [1, 2, 3].map((id) => startNode(config, id))
  running.push(...nodes)
  const leader = await waitFor('a leader', async () => (await statuses(config)).find((s) => s.reachable && s.role === 'leader')?.id)
  const written = new Map<string, string>()
  for (let i = 0; i < count; i++) {
    await put(['--config', config], `key-${i}`, `value-${i}`)
    written.set(`key-${i}`, `value-${i}`)
  }
  return { config, ports, nodes, leader, written }
}

/** Waits until node `id` has applied everything the leader committed (so it holds every acknowledged write). */
export async function caughtUp(config: string, id: number): Promise<void> {
  await waitFor(`node ${id} to apply what the leader committed`, async () => {
    const all = await statuses(config)
    const leader = all.find((s) => s.reachable && s.role === 'leader')
    const node = all.find((s) => s.id === id)
    return leader !== undefined && node !== undefined && node.reachable && node.lastApplied >= leader.commitIndex ? true : undefined
  })
}

/** SIGKILL: the machine is lost (or restarted), nothing stops cleanly. */
export async function kill(node: NodeProcess): Promise<void> {
  node.child.kill('SIGKILL')
  await exited(node.child)
}

/** Every written key reads back its value through `endpoints`. */
export async function expectReadable(endpoints: string[], written: Map<string, string>): Promise<void> {
  for (const [key, value] of written) {
    const got = await runCli(['kv', 'get', key, '--endpoints', endpoints.join(',')])
    expect(got, `${key}: ${got.stderr}`).toMatchObject({ status: 0, stdout: `${value}\n` })
  }
}

