// raftlog member list's table (src/cli/commands/member.ts): one column per field, whatever the
// longest suffrage, so a learner waiting to vote reads as plainly as a voter.
import { describe, expect, it } from 'vitest'
import { memberTable } from '../../src/cli/commands/member.js'
import type { NodeStatus } from '../../src/net/client/node-status.js'

const status = (id: number, suffrage: string, role: string, behind?: number): NodeStatus =>
  ({ id, address: `127.0.0.1:1800${id}`, reachable: true, role, suffrage, ...(behind === undefined ? {} : { behind }) }) as NodeStatus

describe('member list', () => {
  it('keeps STATE in one column when a member waits to vote', () => {
    const lines = memberTable([status(1, 'voter', 'leader'), status(4, 'learner (voter once caught up)', 'follower', 5150), status(5, 'learner', 'follower', 0)])
    expect(lines).toEqual([
      'ID   ADDRESS                MEMBER                         STATE',
      '1    127.0.0.1:18001        voter                          leader',
      '4    127.0.0.1:18004        learner (voter once caught up) follower, 5150 behind',
      '5    127.0.0.1:18005        learner                        follower, 0 behind',
    ])
    const state = (line: string): number => line.search(/(STATE|leader|follower)/)
    expect(new Set(lines.map(state)).size).toBe(1)
  })

  it('keeps the usual width when every entry fits', () => {
    expect(memberTable([status(1, 'voter', 'leader')])).toEqual(['ID   ADDRESS                MEMBER           STATE', '1    127.0.0.1:18001        voter            leader'])
  })
})
