// End to end: a key-value shard's replica moved between real node processes under load. `raftlog
// cluster --groups 4 --replication 2` on three nodes puts each group on two of them; `raftlog group
// move` moves one shard's replica to the third node while a client keeps writing keys of that
// shard; every acknowledged key is then read back through the CLI, the group lists its new
// replicas, and the node it left holds one group fewer.
import { describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { exited, startCluster, waitFor, writeConfig } from '../helpers/processes.js'
import { tempDir } from '../helpers/temp-dir.js'
import { ShardedKvClient } from '../../src/kv/sharded/sharded-kv-client.js'

interface GroupLine {
  group: number
  replicas: number[]
  leaderId: number
  moving?: { from: number; to: number }
}

async function groupList(config: string): Promise<GroupLine[] | undefined> {
  const result = await runCli(['group', 'list', '--config', config, '--json'])
  return result.status === 0 ? (JSON.parse(result.stdout) as GroupLine[]) : undefined
}

async function groupsHeld(config: string): Promise<Map<number, number> | undefined> {
  const result = await runCli(['status', '--config', config, '--json', '--timeout', '1000'])
  if (result.status !== 0) return undefined
  return new Map((JSON.parse(result.stdout) as { id: number; groups: number }[]).map((line) => [line.id, line.groups]))
}

describe('raftlog group move', () => {
  it("moves a shard's replica to another node while a client writes to it; every acknowledged key reads back", async () => {
    const dir = tempDir('raftlog-group-move-')
    const { path: config, ports } = await writeConfig(dir, 3)
    const cluster = startCluster(config, ['--groups', '4', '--replication', '2', '--dashboard-port', '0'])
    const client = new ShardedKvClient(ports.map((port, i) => ({ id: i + 1, address: `127.0.0.1:${port}` })), 4, 5000)
    try {
      const groups = await waitFor('4 groups listed, each with a leader', async () => {
        const list = await groupList(config)
        return list !== undefined && list.length === 4 && list.every((g) => g.leaderId !== 0) ? list : undefined
      }, 30_000)
      const moved = groups[0]!
      expect(moved.replicas).toHaveLength(2)
      const from = moved.leaderId
      const to = [1, 2, 3].find((id) => !moved.replicas.includes(id))!
      const heldBefore = await waitFor('every node answering status', async () => groupsHeld(config))
      // Keys of the moved group only, written one after another while it moves.
      const keys = Array.from({ length: 2000 }, (_, i) => `key-${i}`).filter((key) => client.groupOf(key) === moved.group)
      const acknowledged: string[] = []
      let writing = true
      const writer = (async () => {
        for (let i = 0; writing && i < keys.length; i++) {
          try {
            await client.put(keys[i]!, `value-${i}`)
            acknowledged.push(keys[i]!)
          } catch {
            // A leader change in flight: the outcome is unknown, the key is not counted.
          }
        }
      })()
      await waitFor('some writes before the move', async () => (acknowledged.length >= 5 ? true : undefined))
      const move = await runCli(['group', 'move', String(moved.group), '--from', String(from), '--to', String(to), '--config', config])
      expect(move, move.stderr).toMatchObject({ status: 0 })
      const replicas = [...moved.replicas.filter((id) => id !== from), to].sort((a, b) => a - b)
      expect(move.stdout).toBe(`moved group ${moved.group}'s replica from node ${from} to node ${to}: replicas on nodes ${replicas.join(', ')}\n`)
      expect(move.stderr).toMatch(/moving group \d+'s replica from node \d to node \d/)
      await waitFor('a few writes after the move', async () => {
        const count = acknowledged.length
        await new Promise((resolve) => setTimeout(resolve, 300))
        return acknowledged.length > count ? true : undefined
      })
      writing = false
      await writer
      expect((await groupList(config))?.find((g) => g.group === moved.group)).toMatchObject({ group: moved.group, replicas })
      const heldAfter = await waitFor('the old node to hold one group fewer', async () => {
        const held = await groupsHeld(config)
        return held?.get(from) === heldBefore.get(from)! - 1 && held.get(to) === heldBefore.get(to)! + 1 ? held : undefined
      })
      expect(heldAfter.get(from)).toBe(heldBefore.get(from)! - 1)
      for (const [i, key] of keys.entries()) {
        if (!acknowledged.includes(key)) continue
        const get = await runCli(['kv', 'get', key, '--config', config])
        expect(get, get.stderr).toMatchObject({ status: 0, stdout: `value-${i}\n` })
        if (i > 40) break
      }
      for (const key of acknowledged) expect((await client.get(key))?.toString(), key).toBe(`value-${keys.indexOf(key)}`)
      // The node it left can never hold it again.
      const back = await runCli(['group', 'move', String(moved.group), '--from', String(to), '--to', String(from), '--config', config])
      expect(back).toMatchObject({ status: 1 })
      expect(back.stderr).toMatch(/left group \d+ before: a Raft member's id never rejoins its group/)
      const usage = await runCli(['group', 'move', String(moved.group), '--config', config])
      expect(usage).toMatchObject({ status: 2 })
      expect(usage.stderr).toMatch(/group move needs --from ID and --to ID/)
    } finally {
      client.close()
      cluster.child.kill('SIGINT')
    }
    expect(await exited(cluster.child)).toBe(0)
  })
})
