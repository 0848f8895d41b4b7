// etcdctl 3.4 (Debian's etcd-client, /usr/bin/etcdctl) changing a cluster of real `raftlog node`
// processes through etcd's Cluster service: member add (the node then joins with --join), add as
// a learner and promote, update, remove, and etcd's refusals; and `etcdctl snapshot save`, which
// writes a raftlog backup that `raftlog snapshot status` checks and `snapshot restore` restores.
// Calls go to a follower on purpose: it passes them to the leader.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runCli } from '../helpers/cli.js'
import { exited, freePort, startNode, statuses, waitFor, writeConfig, type NodeProcess } from '../helpers/processes.js'

const etcdctlPath = '/usr/bin/etcdctl'

interface Result {
  status: number | null
  stdout: string
  stderr: string
}

/** `ETCDCTL_API=3 etcdctl --endpoints=ENDPOINTS args`. */
function etcdctl(endpoints: string, args: string[]): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(etcdctlPath, [`--endpoints=${endpoints}`, ...args], { env: { ...process.env, ETCDCTL_API: '3' }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.on('error', reject)
    child.on('close', (status) => resolve({ status, stdout, stderr }))
  })
}

let dir: string
let config: string
let ports: number[]
const nodes = new Map<number, NodeProcess>()
/** A follower of the first leader, and every node's address. */
let follower: string
const addresses = new Map<number, string>()

beforeAll(async () => {
  if (!existsSync(etcdctlPath)) throw new Error(`${etcdctlPath} is missing: install Debian's etcd-client (apt-get install -y etcd-client), as .ci/run does`)
  dir = mkdtempSync(join(tmpdir(), 'raftlog-etcd-members-'))
  ;({ path: config, ports } = await writeConfig(dir, 3))
  for (const id of [1, 2, 3]) {
    nodes.set(id, startNode(config, id))
    addresses.set(id, `127.0.0.1:${ports[id - 1]}`)
  }
  const leader = await waitFor('a leader', async () => (await statuses(config)).find((s) => s.reachable && s.role === 'leader'))
  follower = addresses.get(leader.id === 1 ? 2 : 1) as string
})

afterAll(async () => {
  for (const node of nodes.values()) node.child.kill('SIGKILL')
  await Promise.all([...nodes.values()].map((node) => exited(node.child)))
  rmSync(dir, { recursive: true, force: true })
})

/**
 * `etcdctl member list` as [id, name, peer URL, is learner] rows, after a linearizable get at the
 * same endpoint (as etcdctl member add does): the node then has every change committed before.
 */
async function memberRows(endpoint = follower): Promise<string[][]> {
  expect((await etcdctl(endpoint, ['get', '_'])).status).toBe(0)
  const listed = await etcdctl(endpoint, ['member', 'list'])
  expect(listed.status, listed.stderr).toBe(0)
  return listed.stdout
    .trim()
    .split('\n')
    .map((line) => line.split(', '))
    .map(([id, , name, peer, , learner]) => [id, name, peer, learner] as string[])
}

/** The node at `address` answers `endpoint status` as member `id`, a follower or the leader. */
async function answersAs(address: string, id: number): Promise<boolean> {
  const status = await etcdctl(address, ['endpoint', 'status', '--write-out=json'])
  if (status.status !== 0) return false
  const [parsed] = JSON.parse(status.stdout) as { Status: { header: { member_id: number } } }[]
  return parsed?.Status.header.member_id === id
}

/** Starts node `id` (in no configuration file) at `address`, joining through the follower. */
function joinAt(id: number, address: string, extra: string[] = []): void {
  nodes.set(id, startNode(config, id, ['--listen', address, ...extra]))
  addresses.set(id, address)
}

describe('etcdctl member against raftlog', () => {
  it('adds a member (the next free id), which joins with --join and becomes a voter once caught up', async () => {
    const address = `127.0.0.1:${await freePort()}`
    const added = await etcdctl(follower, ['member', 'add', 'n4', `--peer-urls=http://${address}`])
    expect(added.status, added.stderr).toBe(0)
    expect(added.stdout).toMatch(/^Member\s+4 added to cluster\s+[0-9a-f]+\n/)
    const initial = [1, 2, 3].map((id) => `node_${id}=http://${addresses.get(id)}`).join(',')
    expect(added.stdout).toContain(`ETCD_INITIAL_CLUSTER="${initial},n4=http://${address}"`)
    // It enters as a learner: it never votes before it runs and has caught up.
    expect((await memberRows()).find((row) => row[0] === '4')).toEqual(['4', 'node_4', `http://${address}`, 'true'])
    joinAt(4, address, ['--join', follower])
    await waitFor('node 4 a voter', async () => ((await memberRows()).find((row) => row[0] === '4')?.[3] === 'false' ? true : undefined))
    await waitFor('node 4 answering', async () => ((await answersAs(address, 4)) ? true : undefined))
  })

  it('saves a snapshot through a follower: a raftlog backup that raftlog snapshot status checks and restore restores', async () => {
    for (const [key, value] of [['backup/a', '1'], ['backup/b', '2']]) expect((await etcdctl(follower, ['put', key as string, value as string])).stdout).toBe('OK\n')
    const file = join(dir, 'etcdctl.db')
    const saved = await etcdctl(follower, ['snapshot', 'save', file])
    expect(saved.status, saved.stderr).toBe(0)
    expect(saved.stdout).toBe(`Snapshot saved at ${file}\n`)
    const status = await runCli(['snapshot', 'status', file, '--json'])
    expect(status.status, status.stderr).toBe(0)
    const summary = JSON.parse(status.stdout) as { ok: boolean; keys: number; configuration: { voters: number[] } }
    expect(summary).toMatchObject({ ok: true, keys: 2 })
    expect(summary.configuration.voters).toEqual([1, 2, 3, 4])
    // etcd's own tools refuse it: it is no bbolt database.
    expect((await etcdctl(follower, ['snapshot', 'status', file])).status).not.toBe(0)

    const restoreDir = join(dir, 'restored')
    mkdirSync(restoreDir)
    const { path: restoredConfig, ports: restoredPorts } = await writeConfig(restoreDir, 1)
    const restored = await runCli(['snapshot', 'restore', file, '--node-id', '1', '--config', restoredConfig])
    expect(restored.status, restored.stderr).toBe(0)
    const node = startNode(restoredConfig, 1)
    try {
      const endpoint = `127.0.0.1:${restoredPorts[0]}`
      const got = await waitFor('the restored node to serve', async () => {
        const result = await etcdctl(endpoint, ['get', 'backup/', '--prefix'])
        return result.status === 0 && result.stdout !== '' ? result.stdout : undefined
      })
      expect(got).toBe('backup/a\n1\nbackup/b\n2\n')
    } finally {
      node.child.kill('SIGKILL')
      await exited(node.child)
    }
  })

  it('adds a learner, refuses to promote it until it runs and has caught up, then promotes it', async () => {
    const address = `127.0.0.1:${await freePort()}`
    const added = await etcdctl(follower, ['member', 'add', 'n5', '--learner', `--peer-urls=http://${address}`])
    expect(added.status, added.stderr).toBe(0)
    // (etcdctl 3.4 prints no "as learner".)
    expect(added.stdout).toMatch(/^Member\s+5 added to cluster/)
    expect((await memberRows()).find((row) => row[0] === '5')).toEqual(['5', 'node_5', `http://${address}`, 'true'])
    const early = await etcdctl(follower, ['member', 'promote', '5'])
    expect(early.status).not.toBe(0)
    expect(early.stderr).toContain('Error: etcdserver: can only promote a learner member which is in sync with leader')
    joinAt(5, address, ['--join', follower])
    const promoted = await waitFor('node 5 promoted', async () => {
      const result = await etcdctl(follower, ['member', 'promote', '5'])
      return result.status === 0 ? result : undefined
    })
    expect(promoted.stdout).toMatch(/^Member\s+5 promoted in cluster/)
    expect((await memberRows()).find((row) => row[0] === '5')).toEqual(['5', 'node_5', `http://${address}`, 'false'])
  })

  it("refuses in etcd's words: a URL taken, a bad URL (naming it), an unknown member, promoting a voter", async () => {
    const refused = async (args: string[], text: string): Promise<void> => {
      const result = await etcdctl(follower, args)
      expect(result.status, result.stdout).not.toBe(0)
      expect(result.stderr).toContain(text)
    }
    await refused(['member', 'add', 'again', `--peer-urls=http://${addresses.get(1)}`], 'Error: etcdserver: Peer URLs already exists')
    await refused(['member', 'add', 'tls', '--peer-urls=https://127.0.0.1:1'], 'code = InvalidArgument desc = etcdserver: given member URLs are invalid: "https://127.0.0.1:1" is not http://')
    await refused(['member', 'add', 'unix', '--peer-urls=unix://127.0.0.1:1'], '"unix://127.0.0.1:1" is not http://')
    await refused(['member', 'add', 'two', '--peer-urls=http://127.0.0.1:1,http://127.0.0.1:2'], '2 peer URLs given ("http://127.0.0.1:1", "http://127.0.0.1:2")')
    await refused(['member', 'remove', '99'], 'Error: etcdserver: member not found')
    await refused(['member', 'update', '99', '--peer-urls=http://127.0.0.1:1'], 'Error: etcdserver: member not found')
    await refused(['member', 'promote', '1'], 'Error: etcdserver: can only promote a learner member')
    expect((await memberRows()).map((row) => row[0])).toEqual(['1', '2', '3', '4', '5'])
  })

  it('moves a stopped member to another port (member update), where it serves once restarted', async () => {
    const node5 = nodes.get(5) as NodeProcess
    node5.child.kill('SIGTERM')
    await exited(node5.child)
    // Started again without --listen (a node that joined is in no file): its directory knows where it served.
    const bare = await runCli(['node', '-n', '5', '--config', config])
    expect(bare.status).toBe(1)
    expect(bare.stderr).toContain(`node_5 says it joined the cluster, at ${addresses.get(5)} when it last ran: start it with --listen ${addresses.get(5)}`)
    const taken = await etcdctl(follower, ['member', 'update', '5', `--peer-urls=http://${addresses.get(4)}`])
    expect(taken.stderr).toContain('Error: etcdserver: Peer URLs already exists')
    const moved = `127.0.0.1:${await freePort()}`
    const updated = await etcdctl(follower, ['member', 'update', '5', `--peer-urls=http://${moved}`])
    expect(updated.status, updated.stderr).toBe(0)
    expect(updated.stdout).toMatch(/^Member\s+5 updated in cluster/)
    expect((await memberRows()).find((row) => row[0] === '5')).toEqual(['5', 'node_5', `http://${moved}`, 'false'])
    joinAt(5, moved)
    await waitFor('node 5 at its new port', async () => ((await answersAs(moved, 5)) ? true : undefined))
  })

  it('removes a member (it stops), and never gives its id again', async () => {
    const removed = await etcdctl(follower, ['member', 'remove', '5'])
    expect(removed.status, removed.stderr).toBe(0)
    expect(removed.stdout).toMatch(/^Member\s+5 removed from cluster/)
    expect(await exited((nodes.get(5) as NodeProcess).child)).toBe(4)
    nodes.delete(5)
    expect((await memberRows()).map((row) => row[0])).toEqual(['1', '2', '3', '4'])
    expect(await etcdctl(follower, ['member', 'remove', '5'])).toMatchObject({ stderr: expect.stringContaining('Error: etcdserver: member not found') })
    const again = await etcdctl(follower, ['member', 'add', 'n6', '--learner', `--peer-urls=http://127.0.0.1:${await freePort()}`])
    expect(again.stdout).toMatch(/^Member\s+6 added to cluster/)
    expect((await etcdctl(follower, ['member', 'remove', '6'])).status).toBe(0)
  })

  it('refuses a removal after which the live voters are no majority: etcdserver: unhealthy cluster', async () => {
    const leaderId = (await waitFor('a leader', async () => (await statuses(config)).find((s) => s.reachable && s.role === 'leader'))).id
    const others = [1, 2, 3, 4].filter((id) => id !== leaderId)
    const [live, dead, third] = others as [number, number, number]
    // Voters: the leader, `live` and `dead`; `third` leaves first (a four-voter cluster with one
    // down could still remove anything).
    expect((await etcdctl(addresses.get(live) as string, ['member', 'remove', third.toString(16)])).status).toBe(0)
    expect(await exited((nodes.get(third) as NodeProcess).child)).toBe(4)
    nodes.delete(third)
    const stopped = nodes.get(dead) as NodeProcess
    stopped.child.kill('SIGKILL')
    await exited(stopped.child)
    nodes.delete(dead)
    // Removing the live follower would leave the leader and a dead node: no working majority.
    // (Once the leader has not heard from it for an election timeout: 150 ms here.)
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const unsafe = await etcdctl(addresses.get(live) as string, ['member', 'remove', live.toString(16)])
    expect(unsafe.status).not.toBe(0)
    expect(unsafe.stderr).toContain('Error: etcdserver: unhealthy cluster')
    // Removing the dead one is what is wanted, and allowed.
    const removed = await etcdctl(addresses.get(live) as string, ['member', 'remove', dead.toString(16)])
    expect(removed.status, removed.stderr).toBe(0)
    expect((await memberRows(addresses.get(live))).map((row) => Number(row[0]))).toEqual([leaderId, live].sort((a, b) => a - b))
  })
})
