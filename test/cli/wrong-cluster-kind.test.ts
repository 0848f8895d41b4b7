// What a command says when it meets the other kind of cluster, or none: a one-group command on a
// many-group cluster, a many-group command on a one-group cluster, and any command on a cluster
// that is not running. Each says so in words, at once, exit 1 (was: five seconds of waiting, then
// gRPC's "does not implement the method", an internal group id, or a watch that never ended).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { exited, startCluster, waitFor, writeConfig } from '../helpers/processes.js'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

describe('a command on the wrong kind of cluster, or on none', () => {
  let manyGroups: string
  let oneGroup: string
  let stopped: string
  const clusters: ReturnType<typeof startCluster>[] = []
  // Kept for every test of the file (tempDir's go after each test).
  const dirs: string[] = []
  const dir = (prefix: string): string => {
    const made = mkdtempSync(join(tmpdir(), prefix))
    dirs.push(made)
    return made
  }

  beforeAll(async () => {
    manyGroups = (await writeConfig(dir('raftlog-kind-many-'), 3, { groups: 2 })).path
    oneGroup = (await writeConfig(dir('raftlog-kind-one-'), 3)).path
    // Nothing runs there; the file says groups, so kv takes the many-group path.
    stopped = (await writeConfig(dir('raftlog-kind-none-'), 3, { groups: 2 })).path
    clusters.push(startCluster(manyGroups, ['--dashboard-port', '0']), startCluster(oneGroup, ['--dashboard-port', '0']))
    await waitFor('both clusters to lead', async () => (clusters.every((cluster) => /leads/.test(cluster.output.text)) ? true : undefined), 30_000)
    await waitFor('the many-group cluster to take a put', async () => ((await runCli(['kv', 'put', 'k', 'v', '-c', manyGroups])).status === 0 ? true : undefined), 30_000)
  }, 60_000)

  afterAll(async () => {
    for (const { child } of clusters) {
      child.kill('SIGINT')
      await exited(child)
    }
    for (const made of dirs) rmSync(made, { recursive: true, force: true })
  })

  it('a one-group command on a many-group cluster says the cluster runs many groups and what works there', async () => {
    for (const args of [['kv', 'scan'], ['compact', '1']]) {
      const result = await runCli([...args, '-c', manyGroups])
      expect(result.status, args.join(' ')).toBe(1)
      expect(result.stderr, args.join(' ')).toMatch(/^Error: 127\.0\.0\.1:\d+ runs many Raft groups \(it does not serve raftlog\.RaftClient\): this works on one-group clusters only; on a many-group cluster use kv put, get, delete and cas, group and status, with --config/)
    }
    const lease = await runCli(['lease', 'list', '-c', manyGroups])
    expect(lease.status).toBe(1)
    expect(lease.stderr).toMatch(/^Error: the cluster runs many Raft groups \(it does not serve etcdserverpb\.Lease\): raftlog lease, used this way, works on one-group clusters only/)
    const watch = await runCli(['watch', 'k', '-c', manyGroups], { timeoutMs: 20_000 })
    expect(watch.status).toBe(1)
    expect(watch.stderr).toMatch(/runs many Raft groups/)
    const members = await runCli(['member', 'list', '-c', manyGroups])
    expect(members.status).toBe(1)
    expect(members.stderr).toMatch(/^Error: The nodes run many Raft groups \(cluster_settings\.groups\): member is for one-group clusters; raftlog group list shows where each group lives$/m)
  })

  it('a many-group command on a one-group cluster says the cluster runs one group', async () => {
    const list = await runCli(['group', 'list', '-c', oneGroup])
    expect(list.status).toBe(1)
    expect(list.stderr).toMatch(/^Error: 127\.0\.0\.1:\d+ runs one Raft group, not many \(it does not serve raftlog\.RaftHostClient\): this is for clusters started with --groups or cluster_settings\.groups$/m)
  })

  it('on a cluster that is not running, many-group commands and watch say so at once', async () => {
    for (const args of [['group', 'list', '-c', stopped], ['kv', 'get', 'k', '-c', stopped, '--timeout', '20000']]) {
      const started = Date.now()
      const result = await runCli(args)
      expect(result.status, args.join(' ')).toBe(1)
      expect(result.stderr, args.join(' ')).toMatch(/^Error: no node answered: is the cluster running\? tried 127\.0\.0\.1:\d+, 127\.0\.0\.1:\d+, 127\.0\.0\.1:\d+/)
      expect(Date.now() - started, args.join(' ')).toBeLessThan(15_000)
    }
    const watch = await runCli(['watch', 'k', '-c', stopped], { timeoutMs: 20_000 })
    expect(watch.status).toBe(1)
    expect(watch.stderr).toMatch(/^Error: no node answered: is the cluster running\? tried 3 nodes, the last 127\.0\.0\.1:\d+ \(ECONNREFUSED\)$/m)
  })
})
