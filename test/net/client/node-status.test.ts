// What `raftlog member list` and `status` show of each member: the leader's view of the
// membership over what each address answered. A learner added at another member's address (node
// 11 at node 2's, written as localhost) was missing, and node 2 showed twice, once for each of
// its two addresses.
import { describe, expect, it } from 'vitest'
import { withMembership, type NodeStatus } from '../../../src/net/client/node-status.js'
import type { MemberStatus } from '../../../src/net/membership-wire.js'

const members: MemberStatus[] = [
  { id: 1, address: '127.0.0.1:24001', suffrage: 'voter', matchIndex: 9, matchKnown: true },
  { id: 2, address: '127.0.0.1:24002', suffrage: 'voter', matchIndex: 9, matchKnown: true },
  { id: 3, address: '127.0.0.1:24003', suffrage: 'voter', matchIndex: 7, matchKnown: true },
  { id: 11, address: 'localhost:24002', suffrage: 'learner', matchIndex: 0, matchKnown: false },
]
const answer = (id: number, address: string, role: string): NodeStatus => ({ id, address, reachable: true, role, term: 2, lastIndex: 9, ...(role === 'leader' ? { members } : {}) })

describe('withMembership', () => {
  it("lists a member added at another member's address as itself, unreachable, and that member once", () => {
    const statuses = [answer(1, '127.0.0.1:24001', 'leader'), answer(2, '127.0.0.1:24002', 'follower'), answer(3, '127.0.0.1:24003', 'follower'), answer(2, 'localhost:24002', 'follower')]
    const rows = withMembership(statuses).map((s) => [s.id, s.address, s.suffrage, s.reachable, s.error])
    expect(rows).toEqual([
      [1, '127.0.0.1:24001', 'voter', true, undefined],
      [2, '127.0.0.1:24002', 'voter', true, undefined],
      [3, '127.0.0.1:24003', 'voter', true, undefined],
      [11, 'localhost:24002', 'learner', false, 'node 2 answers at its address'],
    ])
  })

  it('keeps every member as it answered when no address is shared, with its lag behind the leader', () => {
    const statuses = [answer(1, '127.0.0.1:24001', 'leader'), answer(2, '127.0.0.1:24002', 'follower'), { id: 3, address: '127.0.0.1:24003', reachable: false, error: 'no answer' }]
    const rows = withMembership(statuses).map((s) => [s.id, s.suffrage, s.behind])
    expect(rows).toEqual([
      [1, 'voter', 0],
      [2, 'voter', 0],
      [3, 'voter', 2],
    ])
  })
})
