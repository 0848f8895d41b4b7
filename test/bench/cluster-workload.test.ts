// bench:cluster's cases and etcd's leader: ranges and compare-and-put transactions at 1, 16 and
// 128 clients (--quick too), and etcd's calls sent to the member Maintenance.Status names leader.
import { describe, expect, it } from 'vitest'
import type { Etcd3 } from 'etcd3'
import { caseName, workloadFor } from '../../bench/cluster/workload.js'
import { findLeader } from '../../bench/cluster/etcd-cluster.js'

describe('bench:cluster', () => {
  it('runs range and txn rows at 1, 16 and 128 clients, quick or not', () => {
    for (const quick of [false, true]) {
      const cases = workloadFor({ quick }).cases.map((c) => `${caseName(c)} × ${c.clients}`)
      for (const operation of ['range', 'txn']) for (const clients of [1, 16, 128]) expect(cases).toContain(`${operation} 100 B × ${clients}`)
      expect(cases).toContain('get 100 B × 1')
    }
  })

  it("finds etcd's leader by Maintenance.Status and its client URL by MemberList", async () => {
    const fake = {
      maintenance: { status: async () => ({ leader: '22' }) },
      cluster: { memberList: async () => ({ members: [{ ID: '11', name: 'm1', clientURLs: ['http://127.0.0.1:1'] }, { ID: '22', name: 'm2', clientURLs: ['http://127.0.0.1:2'] }] }) },
    } as unknown as Etcd3
    expect(await findLeader(fake)).toEqual({ name: 'm2', url: 'http://127.0.0.1:2' })
    const leaderless = { ...fake, maintenance: { status: async () => ({ leader: '0' }) } } as unknown as Etcd3
    await expect(findLeader(leaderless)).rejects.toThrow(/etcd names no leader among its members/)
  })
})

describe('bench:cluster warm-up', () => {
  it('runs each case unmeasured on each cluster before its first row, and records only the measured rows', async () => {
    const { runClusterBench } = await import('../../bench/cluster/run-cluster-bench.js')
    const calls: string[] = []
    const lines: string[] = []
    const fakeCluster = (system: 'raftlog' | 'etcd') => ({
      system,
      description: system,
      pids: [],
      put: async () => calls.push(`${system} put`),
      // Marked with the progress line said last: the unmeasured run's are after its line.
      get: async () => calls.push(`${system} get after ${lines.at(-1) ?? ''}`),
      range: async () => calls.push(`${system} range`),
      txn: async () => calls.push(`${system} txn`),
      etcdApi: async () => ({ leader: '', members: [] }),
      leader: async () => 'node 1',
      close: () => {},
    })
    const clusters = [fakeCluster('raftlog'), fakeCluster('etcd')]
    const workload = { secondsPerRow: 0.05, rounds: 2, warmUpSeconds: 0.02, warmCaseSeconds: 0.05, idleSeconds: 0.01, cases: [{ operation: 'get' as const, valueBytes: 100, clients: 1 }] }
    const servers = { assertAlive: () => {} } as unknown as Parameters<typeof runClusterBench>[2]
    const run = await runClusterBench(clusters, workload, servers, (line) => lines.push(line))
    expect(run.rows.map((row) => `${row.round} ${row.system}`)).toEqual(['1 raftlog', '1 etcd', '2 raftlog', '2 etcd'])
    expect(lines.filter((line) => line.includes('unmeasured'))).toEqual(['get 100 B 1 raftlog: unmeasured 0.05 s first', 'get 100 B 1 etcd: unmeasured 0.05 s first'])
    // The unmeasured run calls the case's own operation: between its line and the measured row's
    // line come its gets and the row's, more than the row answered.
    const afterUnmeasured = calls.filter((call) => call === 'raftlog get after get 100 B 1 raftlog: unmeasured 0.05 s first').length
    const firstRow = run.rows.find((row) => row.system === 'raftlog' && row.round === 1)
    expect(afterUnmeasured - (firstRow?.ops ?? 0)).toBeGreaterThan(0)
  }, 20_000)
})
