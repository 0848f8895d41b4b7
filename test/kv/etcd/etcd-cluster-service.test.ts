// The pieces of etcd's Cluster service and Snapshot that need no cluster: the peer URL a member
// is given, the id a new member gets, raftlog's refusals in etcd's words, and the length etcdctl
// wants of a snapshot.
import { describe, expect, it } from 'vitest'
import * as grpc from '@grpc/grpc-js'
import { addressFromPeerUrls, memberErrors, nextMemberId, refusal } from '../../../src/kv/etcd/etcd-cluster-service.js'
import { etcdctlPadding } from '../../../src/kv/etcd/etcd-snapshot.js'
import { RaftLogError } from '../../../src/errors.js'

const refused = (urls: string[], tls = false): { code?: number; details?: string } => {
  try {
    addressFromPeerUrls(urls, tls)
  } catch (error) {
    return (error as { answer: { code: number; details: string } }).answer
  }
  throw new Error(`${urls.join(',')} was taken`)
}

describe("etcd's Cluster service on raftlog's membership", () => {
  it('takes one http(s)://host:port as a member address, as the cluster serves it', () => {
    expect(addressFromPeerUrls(['http://127.0.0.1:18004'], false)).toBe('127.0.0.1:18004')
    expect(addressFromPeerUrls(['http://[::1]:18004/'], false)).toBe('[::1]:18004')
    expect(addressFromPeerUrls(['https://node4.example:443'], true)).toBe('node4.example:443')
    expect(refused(['https://127.0.0.1:1'])).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringContaining('"https://127.0.0.1:1" is not http://: this cluster does not serve TLS') })
    expect(refused(['http://127.0.0.1:1'], true).details).toContain('"http://127.0.0.1:1" is not https://: this cluster serves TLS')
    expect(refused(['http://127.0.0.1']).details).toContain('"http://127.0.0.1" has no host:port')
    expect(refused(['http://127.0.0.1:1/raft']).details).toContain('"http://127.0.0.1:1/raft" is not scheme://host:port')
    expect(refused(['http://user@127.0.0.1:1']).details).toContain('is not scheme://host:port')
    expect(refused([]).details).toContain('no peer URL given')
    expect(refused(['http://a:1', 'http://b:2']).details).toContain('2 peer URLs given ("http://a:1", "http://b:2"); raftlog needs one peer URL, http://host:port')
  })

  it('gives a new member the next id no member ever had', () => {
    expect(nextMemberId({ voters: [1, 2, 3], outgoing: [], learners: [], addresses: {} })).toBe(4)
    expect(nextMemberId({ voters: [2, 3], outgoing: [], learners: [7], addresses: {}, removed: [1, 9] })).toBe(10)
    expect(nextMemberId({ voters: [1, 2], outgoing: [1, 2, 5], learners: [], addresses: {} })).toBe(6)
  })

  it("answers raftlog's refusals in etcd's words where etcd has them, with raftlog's code otherwise", () => {
    const unsafe = new RaftLogError('ERR_UNSAFE_CHANGE', 'no working majority')
    expect(refusal('MemberRemove', unsafe)).toEqual({ code: grpc.status.UNAVAILABLE, details: 'etcdserver: unhealthy cluster' })
    expect(refusal('MemberUpdate', unsafe)).toEqual(memberErrors.unhealthy)
    expect(refusal('MemberPromote', unsafe)).toEqual({ code: grpc.status.FAILED_PRECONDITION, details: 'etcdserver: re-configuration failed due to not enough started members' })
    expect(refusal('MemberRemove', new RaftLogError('ERR_ID_REMOVED', 'removed'))).toEqual({ code: grpc.status.NOT_FOUND, details: 'etcdserver: member not found' })
    expect(refusal('MemberPromote', new RaftLogError('ERR_LEARNER_BEHIND', 'behind'))).toEqual({ code: grpc.status.FAILED_PRECONDITION, details: 'etcdserver: can only promote a learner member which is in sync with leader' })
    expect(refusal('MemberAdd', new RaftLogError('ERR_CHANGE_IN_PROGRESS', 'not finished'))).toEqual({ code: grpc.status.FAILED_PRECONDITION, details: 'ERR_CHANGE_IN_PROGRESS: not finished' })
    expect(refusal('MemberAdd', new RaftLogError('ERR_LEADERSHIP_LOST', 'lost'))).toEqual({ code: grpc.status.UNAVAILABLE, details: 'etcdserver: leader changed' })
  })

  it('pads a snapshot to 32 bytes more than a multiple of 512, the length etcdctl 3.4 wants', () => {
    for (const bytes of [0, 1, 32, 511, 512, 544, 545, 885, 1_048_576]) {
      const padding = etcdctlPadding(bytes)
      expect(padding).toBeGreaterThanOrEqual(0)
      expect(padding).toBeLessThan(512)
      expect((bytes + padding) % 512).toBe(32)
    }
  })
})
