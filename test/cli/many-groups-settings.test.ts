// raftlog node's many-group settings are checked before the node says it starts: ranges of
// --groups and --replication, a node id not in the file, and commit_delay_ms or replication in
// the file of a node started without --groups (they go with --groups too, not only with groups in
// the file), and a node started as the other kind than it ran as.
import { describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { exited, startCluster, waitFor, writeConfig } from '../helpers/processes.js'
import { tempDir } from '../helpers/temp-dir.js'

describe('raftlog node with many groups: its settings', () => {
  it('refuses bad --groups and --replication and an unknown node before saying it starts', async () => {
    const { path } = await writeConfig(tempDir(), 3)
    const tooMany = await runCli(['node', '-n', '1', '-c', path, '--groups', '100001'])
    expect(tooMany.status).toBe(2)
    expect(tooMany.stderr).toMatch(/--groups must be a whole number from 1 to 100000/)
    const replication = await runCli(['node', '-n', '1', '-c', path, '--groups', '8', '--replication', '4'])
    expect(replication.status).toBe(2)
    expect(replication.stderr).toMatch(/--replication must be a whole number from 1 to 3/)
    const unknown = await runCli(['node', '-n', '9', '-c', path, '--groups', '8'])
    expect(unknown.status).not.toBe(0)
    expect(unknown.stderr).toMatch(/Node ID 9 not found/)
    for (const result of [tooMany, replication, unknown]) expect(result.stdout).not.toMatch(/starting/)
  })

  it('refuses to start a node as the other kind than it ran as, naming its directory and the flag', async () => {
    const dir = tempDir()
    const { path } = await writeConfig(dir, 3)
    // Node 1 ran with many groups, node 2 with one (what a first start leaves).
    mkdirSync(join(dir, 'logs', 'host_1'), { recursive: true })
    mkdirSync(join(dir, 'logs', 'node_2'), { recursive: true })
    writeFileSync(join(dir, 'logs', 'node_2', 'raft_state.meta'), Buffer.alloc(8192))
    const asOneGroup = await runCli(['node', '-n', '1', '-c', path])
    expect(asOneGroup.status).toBe(2)
    expect(asOneGroup.stderr).toContain(`node 1 ran as a node of many groups (its engine is ${join(dir, 'logs', 'host_1')}): start it as it ran, with --groups N`)
    const asManyGroups = await runCli(['node', '-n', '2', '-c', path, '--groups', '8'])
    expect(asManyGroups.status).toBe(2)
    expect(asManyGroups.stderr).toContain(`node 2 ran as a node of one group (its log is ${join(dir, 'logs', 'node_2')}): start it without --groups`)
    for (const result of [asOneGroup, asManyGroups]) expect(result.stdout).not.toMatch(/starting/)
    // Neither made a directory of the other kind.
    expect(existsSync(join(dir, 'logs', 'node_1'))).toBe(false)
    expect(existsSync(join(dir, 'logs', 'host_2'))).toBe(false)
  })

  it('refuses commit_delay_ms in the file for a node of one group, naming the file', async () => {
    const { path } = await writeConfig(tempDir(), 3, { commit_delay_ms: 1 })
    const result = await runCli(['node', '-n', '1', '-c', path])
    expect(result.status).toBe(2)
    expect(result.stderr).toContain(`cluster_settings.commit_delay_ms in ${path} needs --groups (or cluster_settings.groups)`)
    expect(result.stdout).not.toMatch(/starting/)
  })

  it('group refuses a node named twice in --replicas, and a move to the node it leaves', async () => {
    const { path } = await writeConfig(tempDir(), 3, { groups: 4 })
    const twice = await runCli(['group', 'create', '--replicas', '1,1', '-c', path])
    expect(twice.status).toBe(2)
    expect(twice.stderr).toMatch(/--replicas names node 1 twice \('1,1'\): a group has at most one replica on a node/)
    const same = await runCli(['group', 'move', '3', '--from', '1', '--to', '1', '-c', path])
    expect(same.status).toBe(2)
    expect(same.stderr).toMatch(/--from and --to are the same node \(1\)/)
  })

  it('takes snapshot_threshold from the file for every group: a group snapshots after that many entries', async () => {
    const dir = tempDir()
    const { path } = await writeConfig(dir, 3, { groups: 1, snapshot_threshold: 20, snapshot_trailing_entries: 5 })
    const cluster = startCluster(path, ['--dashboard-port', '0'])
    try {
      await waitFor('a put', async () => ((await runCli(['kv', 'put', 'k0', 'v', '-c', path])).status === 0 ? true : undefined), 30_000)
      for (let i = 1; i < 40; i++) expect((await runCli(['kv', 'put', `k${i}`, 'v', '-c', path])).status).toBe(0)
      // Group 1 (the only shard) on node 1: the default threshold (10,000) would take none.
      const folder = join(dir, 'logs', 'host_1', 'snapshots', 'group_1')
      await waitFor('a snapshot of group 1 on node 1', async () => (existsSync(folder) && readdirSync(folder).some((name) => name.endsWith('.snap')) ? true : undefined), 20_000)
    } finally {
      cluster.child.kill('SIGINT')
      await exited(cluster.child)
    }
  }, 60_000)
})
