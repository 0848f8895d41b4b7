// End to end: a node joins a running many-group cluster from the command line (raftlog node
// --groups 4 --listen HOST:PORT --join ADDRESS), a key-value shard's replica is moved onto it with
// raftlog group move, its keys read back through the CLI (which knows only the founding nodes from
// the file: the catalog says where the new node is), and it comes back after a restart without
// --join. A node the file does not list and that has no directory yet must be given --join.
import { describe, expect, it } from 'vitest'
import { existsSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { runCli } from '../helpers/cli.js'
import { exited, freePort, startNode, waitFor, writeConfig } from '../helpers/processes.js'
import { tempDir } from '../helpers/temp-dir.js'
import { ShardedKvClient } from '../../src/kv/sharded/sharded-kv-client.js'

interface GroupLine {
  group: number
  replicas: number[]
  leaderId: number
}

async function groupList(config: string): Promise<GroupLine[] | undefined> {
  const result = await runCli(['group', 'list', '--config', config, '--json'])
  return result.status === 0 ? (JSON.parse(result.stdout) as GroupLine[]) : undefined
}

async function reachable(config: string): Promise<number[] | undefined> {
  const result = await runCli(['status', '--config', config, '--json', '--timeout', '1000'])
  if (result.status !== 0) return undefined
  return (JSON.parse(result.stdout) as { id: number; reachable: boolean }[]).filter((line) => line.reachable).map((line) => line.id)
}

describe('raftlog node --groups --join', () => {
  it('adds a node to a running many-group cluster; a shard moved onto it serves its keys, also after its restart', async () => {
    const dir = tempDir('raftlog-host-join-')
    const { path: config, ports } = await writeConfig(dir, 3)
    const founders = [1, 2, 3].map((id) => startNode(config, id, ['--groups', '4', '--replication', '2']))
    const port = await freePort()
    const listen = `127.0.0.1:${port}`
    let newcomer = startNode(config, 4, ['--groups', '4', '--listen', listen, '--join', `127.0.0.1:${ports[1]}`])
    const client = new ShardedKvClient(ports.map((p, i) => ({ id: i + 1, address: `127.0.0.1:${p}` })), 4, 5000)
    try {
      const groups = await waitFor('4 groups listed, each with a leader', async () => {
        const list = await groupList(config)
        return list !== undefined && list.length === 4 && list.every((g) => g.leaderId !== 0) ? list : undefined
      }, 30_000)
      await waitFor('node 4 answering status beside the founders', async () => ((await reachable(config))?.join() === '1,2,3,4' ? true : undefined), 30_000)
      expect(newcomer.output.join('\n')).toMatch(/asking 127\.0\.0\.1:\d+ to take node 4 into the cluster/)
      const moved = groups[0]!
      const keys = Array.from({ length: 400 }, (_, i) => `key-${i}`).filter((key) => client.groupOf(key) === moved.group).slice(0, 5)
      for (const key of keys) await client.put(key, `before-${key}`)
      const move = await runCli(['group', 'move', String(moved.group), '--from', String(moved.leaderId), '--to', '4', '--config', config])
      expect(move, move.stderr).toMatchObject({ status: 0 })
      expect(move.stdout).toMatch(new RegExp(`moved group ${moved.group}'s replica from node ${moved.leaderId} to node 4`))
      expect((await groupList(config))?.find((g) => g.group === moved.group)?.replicas).toContain(4)
      // Node 4 restarts without --join: its directory says it belongs to the cluster.
      newcomer.child.kill('SIGINT')
      expect(await exited(newcomer.child)).toBe(0)
      newcomer = startNode(config, 4, ['--groups', '4', '--listen', listen])
      await waitFor('node 4 back', async () => ((await reachable(config))?.includes(4) ? true : undefined), 30_000)
      for (const key of keys) {
        const get = await runCli(['kv', 'get', key, '--config', config])
        expect(get, get.stderr).toMatchObject({ status: 0, stdout: `before-${key}\n` })
      }
      const put = await runCli(['kv', 'put', keys[0]!, 'after', '--config', config])
      expect(put, put.stderr).toMatchObject({ status: 0 })
      expect((await client.get(keys[0]!))?.toString()).toBe('after')
      // A node unknown to the file, with no directory and no --join, would wait for nobody.
      const stranger = await runCli(['node', '-n', '5', '--groups', '4', '--config', config, '--listen', '127.0.0.1:1'])
      expect(stranger.status).toBe(1)
      expect(stranger.stderr).toMatch(/Node ID 5 not found in configuration file .*start it with --join ADDRESS --listen HOST:PORT/)
      // Node 4 loses its directory: it would vote again in terms it voted in, so it is refused, and leaves none behind.
      newcomer.child.kill('SIGINT')
      expect(await exited(newcomer.child)).toBe(0)
      rmSync(join(dir, 'logs', 'host_4'), { recursive: true, force: true })
      const wiped = await runCli(['node', '-n', '4', '--groups', '4', '--config', config, '--listen', listen, '--join', `127.0.0.1:${ports[0]}`])
      // Exit status 4, as for a removed node: raftlog cluster --restart does not start it again.
      expect(wiped.status).toBe(4)
      expect(wiped.stderr).toMatch(/ERR_ID_IN_USE: Node 4 joined the cluster before, and asks again with a new directory/)
      expect(existsSync(join(dir, 'logs', 'host_4'))).toBe(false)
      const moved2 = await runCli(['node', '-n', '2', '--groups', '4', '--config', config, '--listen', '127.0.0.1:1'])
      expect(moved2.status).toBe(2)
      expect(moved2.stderr).toMatch(/node 2 serves at 127\.0\.0\.1:\d+ in .*a many-group node listed there serves at that address/)
    } finally {
      client.close()
      for (const node of [...founders, newcomer]) node.child.kill('SIGINT')
    }
    for (const node of founders) expect(await exited(node.child)).toBe(0)
  })
})
