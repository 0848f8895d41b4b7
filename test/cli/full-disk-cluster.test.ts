// End to end on a real full disk: three `raftlog node` processes, node 2's directory on a 3 MiB
// tmpfs of its own (a private mount namespace: `unshare -rm`, as test/storage/full-disk.test.ts
// does; entered again with nsenter to free space), with a 1 MiB filler file beside it. Writes go on
// until node 2's disk is full; it pauses (alive, its status says why, one log line) while the
// others go on; the filler is deleted, and it resumes by itself and catches up. Every
// acknowledged write is then read back from each node. And max_log_bytes: the leader answers
// ERR_LOG_FULL at the ceiling, takes a snapshot, and takes writes again once compacted.
import { describe, expect, it } from 'vitest'
import { spawn, spawnSync } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { cliPath, runCli } from '../helpers/cli.js'
import { alive, exited, startNode, statuses, waitFor, writeConfig, type NodeProcess } from '../helpers/processes.js'
import { tempDir } from '../helpers/temp-dir.js'
import { ClusterClient } from '../../src/net/client/cluster-client.js'
import { decodeKvResult, encodeKvCommand } from '../../src/kv/kv-state-machine.js'
import type { RaftLogError } from '../../src/errors.js'

interface DiskStatus {
  id: number
  reachable: boolean
  role: string
  commitIndex: number
  lastApplied: number
  diskFull?: boolean
  diskFullReason?: string
  logBytes?: number
  maxLogBytes?: number
}

/** `raftlog node` for node `id` with `logs` (its log_directory) a small tmpfs only it sees, a filler file in it. */
function startOnSmallDisk(config: string, id: number, logs: string): NodeProcess {
  const script = 'mount -t tmpfs -o size=3m,mode=0755 tmpfs "$1" && head -c 1048576 /dev/zero > "$1/filler" && shift && exec "$@"'
  const child = spawn('unshare', ['-rm', 'sh', '-c', script, 'sh', logs, process.execPath, cliPath, 'node', '--node-id', String(id), '--config', config, '--log-format', 'json'], { stdio: ['ignore', 'pipe', 'pipe'] })
  const output: string[] = []
  child.stdout!.on('data', (chunk: Buffer) => output.push(...chunk.toString().trim().split('\n')))
  child.stderr!.on('data', (chunk: Buffer) => output.push(...chunk.toString().trim().split('\n')))
  process.on('exit', () => child.kill('SIGKILL'))
  return { child, output }
}

/** Runs `command` in node `pid`'s mount namespace (where its tmpfs is). */
function inNamespace(pid: number, command: string): string {
  const result = spawnSync('nsenter', ['-t', String(pid), '-U', '-m', '--preserve-credentials', 'sh', '-c', command], { encoding: 'utf8' })
  if (result.status !== 0) throw new Error(`nsenter ${command}: ${result.stderr}`)
  return result.stdout
}

function events(node: NodeProcess, event: string): Record<string, unknown>[] {
  return node.output.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>).filter((record) => record.event === event)
}

async function put(client: ClusterClient, key: string, value: string): Promise<void> {
  for (;;) {
    try {
      await client.propose(encodeKvCommand({ op: 'put', key, value }), 10_000)
      return
    } catch (error) {
      // The writes are sequential: an unknown outcome is followed by the same put again.
      const code = (error as RaftLogError).code
      if (code !== 'ERR_UNKNOWN_OUTCOME' && code !== 'ERR_NO_LEADER' && code !== 'ERR_DISK_FULL') throw error
    }
  }
}

/** Each key's last acknowledged value reads back from each node (a client of that node alone). */
async function expectOnEveryNode(ports: number[], last: Map<string, string>): Promise<void> {
  for (const port of ports) {
    const client = new ClusterClient([`127.0.0.1:${port}`])
    try {
      for (const [key, value] of last) expect(decodeKvResult(await client.read(key, 10_000)), `${key} on port ${port}`).toEqual({ ok: true, value: Buffer.from(value) })
    } finally {
      client.close()
    }
  }
}

const keys = 100

describe('a 3-process cluster with a full disk', () => {
  it('a node whose disk fills pauses (alive, its status and log say why), the others go on, and it resumes by itself and catches up once space is freed', async () => {
    const dir = tempDir('raftlog-e2e-full-disk-')
    const logs = join(dir, 'logs')
    mkdirSync(logs)
    const { path: config, ports } = await writeConfig(dir, 3, { log_segment_size: 262144, snapshot_threshold: 1_000_000 })
    const nodes = new Map<number, NodeProcess>([
      [1, startNode(config, 1)],
      [2, startOnSmallDisk(config, 2, logs)],
      [3, startNode(config, 3)],
    ])
    const small = nodes.get(2)!
    await waitFor('a leader', async () => (await statuses(config)).find((s) => s.reachable && s.role === 'leader'), 30_000)
    expect(inNamespace(small.child.pid!, `df -k "${logs}" | tail -1`)).toMatch(/tmpfs\s+3072\s/)
    const client = new ClusterClient(ports.map((port) => `127.0.0.1:${port}`))
    const last = new Map<string, string>()
    const value = (i: number): string => `value-${i}-${'v'.repeat(2000)}`
    let written = 0
    const nodeStatus = async (id: number): Promise<DiskStatus | undefined> => ((await statuses(config)) as unknown as DiskStatus[]).find((s) => s.id === id)
    // Writes go on until node 2's disk is full (2 MiB free: a few hundred 2 KiB puts).
    for (; written < 5000; written++) {
      await put(client, `key-${written % keys}`, value(written))
      last.set(`key-${written % keys}`, value(written))
      if (written % 50 === 49 && (await nodeStatus(2))?.diskFull === true) break
    }
    const paused = await waitFor('node 2 paused on its full disk', async () => {
      const status = await nodeStatus(2)
      return status?.diskFull === true ? status : undefined
    })
    expect(paused.reachable).toBe(true)
    expect(paused.diskFullReason).toMatch(/^since \S+: .*ENOSPC/)
    expect(alive(small.child.pid!)).toBe(true)
    const text = await runCli(['status', '--config', config])
    expect(text.stdout).toMatch(/^node 2 .*DISK FULL, writes paused \(since \S+: .*ENOSPC.*\)$/m)
    // The others go on without it: writes are acknowledged by the majority that has room.
    const appliedAtPause = paused.lastApplied
    for (let i = 0; i < 50; i++, written++) {
      await put(client, `key-${written % keys}`, value(written))
      last.set(`key-${written % keys}`, value(written))
    }
    const during = await nodeStatus(2)
    expect(during?.diskFull).toBe(true)
    expect(during!.lastApplied).toBeLessThanOrEqual(appliedAtPause + 5)
    expect(events(small, 'disk-full')).toHaveLength(1)
    expect(events(small, 'error')).toEqual([])
    // Space returns: the filler goes, and nobody tells the node.
    inNamespace(small.child.pid!, `rm "${logs}/filler"`)
    await waitFor('node 2 resumed and caught up', async () => {
      const all = (await statuses(config)) as unknown as DiskStatus[]
      const leader = all.find((s) => s.role === 'leader')
      const two = all.find((s) => s.id === 2)
      return leader !== undefined && two?.diskFull === false && two.lastApplied === leader.commitIndex ? two : undefined
    }, 30_000)
    expect(events(small, 'disk-space')).toHaveLength(1)
    expect(events(small, 'disk-full')).toHaveLength(1)
    for (let i = 0; i < 20; i++, written++) {
      await put(client, `key-${written % keys}`, value(written))
      last.set(`key-${written % keys}`, value(written))
    }
    await waitFor('every node applied everything', async () => {
      const all = (await statuses(config)) as unknown as DiskStatus[]
      const commit = Math.max(...all.map((s) => s.commitIndex ?? 0))
      return all.every((s) => s.reachable && s.lastApplied === commit) ? all : undefined
    }, 30_000)
    await expectOnEveryNode(ports, last)
    client.close()
    for (const node of nodes.values()) node.child.kill('SIGTERM')
    expect(await Promise.all([...nodes.values()].map((node) => exited(node.child)))).toEqual([0, 0, 0])
  }, 180_000)

  it('max_log_bytes: the leader answers ERR_LOG_FULL at the ceiling, snapshots, and takes writes again once its log is compacted', async () => {
    const dir = tempDir('raftlog-e2e-log-full-')
    const { path: config, ports } = await writeConfig(dir, 3, { log_segment_size: 65536, max_log_bytes: 262144, snapshot_threshold: 1_000_000, snapshot_trailing_entries: 0 })
    const nodes = new Map<number, NodeProcess>([1, 2, 3].map((id) => [id, startNode(config, id)]))
    await waitFor('a leader', async () => (await statuses(config)).find((s) => s.reachable && s.role === 'leader'), 30_000)
    const client = new ClusterClient(ports.map((port) => `127.0.0.1:${port}`))
    const last = new Map<string, string>()
    let refusal: RaftLogError | undefined
    let written = 0
    // 256 KiB of 1 KiB puts is some 230: the ceiling comes well before 1,000.
    for (; written < 1000 && refusal === undefined; written++) {
      const key = `key-${written % keys}`
      const value = `value-${written}-${'l'.repeat(1000)}`
      try {
        await client.propose(encodeKvCommand({ op: 'put', key, value }), 10_000)
        last.set(key, value)
      } catch (error) {
        if ((error as RaftLogError).code !== 'ERR_LOG_FULL') throw error
        refusal = error as RaftLogError
        // Refused before the log: never applied. The same put, asked again, goes in once there is room.
        await waitFor('the leader takes writes again', async () => {
          try {
            await client.propose(encodeKvCommand({ op: 'put', key, value }), 10_000)
            return true
          } catch (again) {
            if ((again as RaftLogError).code !== 'ERR_LOG_FULL') throw again
            return undefined
          }
        })
        last.set(key, value)
      }
    }
    expect(refusal?.message).toMatch(/refused the write \(ERR_LOG_FULL\): Node \d+'s log holds \d+ bytes and would pass its ceiling, max_log_bytes 262144/)
    expect(refusal?.message).toMatch(/takes a snapshot now/)
    // Writes go on past the ceiling's worth: compaction keeps making room.
    for (let i = 0; i < 300; i++, written++) {
      const key = `key-${written % keys}`
      const value = `value-${written}-${'l'.repeat(1000)}`
      for (;;) {
        try {
          await client.propose(encodeKvCommand({ op: 'put', key, value }), 10_000)
          break
        } catch (error) {
          if ((error as RaftLogError).code !== 'ERR_LOG_FULL') throw error
          await new Promise((resolve) => setTimeout(resolve, 50))
        }
      }
      last.set(key, value)
    }
    const all = (await statuses(config)) as unknown as DiskStatus[]
    for (const status of all) {
      expect(status.maxLogBytes).toBe(262144)
      expect(status.logBytes!, `node ${status.id}`).toBeLessThanOrEqual(262144 + 65536)
    }
    await waitFor('every node applied everything', async () => {
      const now = (await statuses(config)) as unknown as DiskStatus[]
      const commit = Math.max(...now.map((s) => s.commitIndex ?? 0))
      return now.every((s) => s.reachable && s.lastApplied === commit) ? now : undefined
    }, 30_000)
    await expectOnEveryNode(ports, last)
    client.close()
    const leaderLines = [...nodes.values()].flatMap((node) => events(node, 'log-full'))
    expect(leaderLines.length).toBeGreaterThan(0)
    expect([...nodes.values()].flatMap((node) => events(node, 'snapshot')).length).toBeGreaterThan(0)
    for (const node of nodes.values()) node.child.kill('SIGTERM')
    expect(await Promise.all([...nodes.values()].map((node) => exited(node.child)))).toEqual([0, 0, 0])
  }, 180_000)
})
