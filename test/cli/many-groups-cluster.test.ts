// End to end: `raftlog cluster --groups 8` runs three real node processes, each a RaftHost with the
// sharded key-value store; kv put and get reach each key's group, raftlog group lists, creates and
// removes groups, raftlog status shows groups and leaders per node, the leader balancer spreads
// the leaders, and Ctrl-C stops every node.
import { describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { exited, startCluster, waitFor, writeConfig } from '../helpers/processes.js'
import { tempDir } from '../helpers/temp-dir.js'

interface HostLine {
  id: number
  reachable: boolean
  groups: number
  leading: number
  catalogLeader: boolean
}

interface GroupLine {
  group: number
  replicas: number[]
  leaderId: number
  shard: boolean
}

async function hostStatuses(config: string): Promise<HostLine[] | undefined> {
  const result = await runCli(['status', '--config', config, '--json', '--timeout', '1000'])
  return result.status === 0 ? (JSON.parse(result.stdout) as HostLine[]) : undefined
}

async function groupList(config: string): Promise<GroupLine[]> {
  const result = await runCli(['group', 'list', '--config', config, '--json'])
  expect(result, result.stderr).toMatchObject({ status: 0 })
  return JSON.parse(result.stdout) as GroupLine[]
}

describe('raftlog cluster --groups', () => {
  it('serves the key-value store over 8 groups, lists, creates and removes groups, spreads leaders, and stops cleanly', async () => {
    const dir = tempDir('raftlog-many-groups-')
    const { path: config } = await writeConfig(dir, 3)
    const cluster = startCluster(config, ['--groups', '8', '--dashboard-port', '0'], true)
    try {
      // Every node serving, the catalog founded and led, every group on every node (R = 3 of 3).
      await waitFor('the catalog led and 8 groups on every node', async () => {
        const all = await hostStatuses(config)
        return all !== undefined && all.every((s) => s.reachable && s.groups === 8) && all.some((s) => s.catalogLeader) ? true : undefined
      }, 30_000)
      // The balancer evens the 8 leaders out: 3, 3 and 2 (first: a put in flight while its group's
      // leadership moves may have its outcome unknown, exit 3).
      const spread = await waitFor('leaders spread over the nodes', async () => {
        const all = await hostStatuses(config)
        const led = all?.map((s) => s.leading) ?? []
        return led.length === 3 && led.reduce((a, b) => a + b, 0) === 8 && Math.max(...led) - Math.min(...led) <= 1 ? led : undefined
      }, 30_000)
      expect(spread.sort()).toEqual([2, 3, 3])
      for (let i = 0; i < 12; i++) {
        const put = await runCli(['kv', 'put', `key-${i}`, `value-${i}`, '--config', config])
        expect(put, put.stderr).toMatchObject({ status: 0, stdout: 'OK\n' })
      }
      for (let i = 0; i < 12; i++) {
        const get = await runCli(['kv', 'get', `key-${i}`, '--config', config])
        expect(get, get.stderr).toMatchObject({ status: 0, stdout: `value-${i}\n` })
      }
      const absent = await runCli(['kv', 'get', 'nothing-here', '--config', config])
      expect(absent).toMatchObject({ status: 1, stderr: '(absent) nothing-here\n' })

      const groups = await groupList(config)
      expect(groups.map((g) => g.group)).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
      for (const g of groups) expect(g).toMatchObject({ replicas: [1, 2, 3], shard: true })

      const created = await runCli(['group', 'create', '--replication', '2', '--config', config, '--json'])
      expect(created, created.stderr).toMatchObject({ status: 0 })
      const { group, replicas } = JSON.parse(created.stdout) as { group: number; replicas: number[] }
      expect(group).toBe(9)
      expect(replicas).toHaveLength(2)
      await waitFor('group 9 listed with a leader', async () => ((await groupList(config)).find((g) => g.group === 9 && g.leaderId !== 0) === undefined ? undefined : true))
      expect((await groupList(config)).find((g) => g.group === 9)).toMatchObject({ replicas, shard: false })
      const removed = await runCli(['group', 'remove', '9', '--config', config])
      expect(removed, removed.stderr).toMatchObject({ status: 0, stdout: 'removed group 9\n' })
      expect((await groupList(config)).map((g) => g.group)).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
      const shard = await runCli(['group', 'remove', '3', '--config', config])
      expect(shard.status).toBe(1)
      expect(shard.stderr).toMatch(/^Error: Group 3 holds a shard of the key-value store/)
      const gone = await runCli(['group', 'remove', '9', '--config', config])
      expect(gone.stderr).toMatch(/^Error: Group 9 is not in the catalog/)
      const bad = await runCli(['group', 'remove', 'nine', '--config', config])
      expect(bad.status).toBe(2)
      expect(bad.stderr).toMatch(/^Error: GROUP must be a whole number from 1, got 'nine'/)

      const text = await runCli(['status', '--config', config])
      expect(text.stdout).toMatch(/^node 1 127\.0\.0\.1:\d+: 8 groups, leads \d, \d+ of 9 replicas quiet/m)
      // The keys survive the leaders' moves.
      const again = await runCli(['kv', 'get', 'key-0', '--config', config])
      expect(again.stdout).toBe('value-0\n')
    } finally {
      // A terminal's Ctrl-C: the whole process group gets SIGINT. Each node must still stop once,
      // gracefully (the cluster's SIGTERM after it was a second signal: an exit at once).
      process.kill(-(cluster.child.pid as number), 'SIGINT')
    }
    expect(await exited(cluster.child)).toBe(0)
    expect(cluster.output.text).toMatch(/node 1 stopped/)
    expect(cluster.output.text).toMatch(/node 2 stopped/)
    expect(cluster.output.text).toMatch(/node 3 stopped/)
    expect(cluster.output.text).toMatch(/leaders: node 1 leads/)
  })
})
