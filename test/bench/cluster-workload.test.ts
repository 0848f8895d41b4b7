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
