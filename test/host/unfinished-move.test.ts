// The check before a many-group move is recorded as done (src/host/unfinished-move.ts): asked of
// the group's leader, and answered within a client's patience even when hosts do not answer.
import { afterEach, describe, expect, it, vi } from 'vitest'
import { leaderSearchMs, unfinishedMoveProblem, type GroupState } from '../../src/host/unfinished-move.js'
import type { Configuration } from '../../src/raft/core/configuration.js'

const settled: Configuration = { voters: [1, 2, 4], outgoing: [], learners: [], addresses: {} }
/** What host 2, the group's leader, says of it. */
const leaderState = (configuration = settled): GroupState => ({ hasGroup: true, leaderId: 2, configuration })

afterEach(() => vi.useRealTimers())

describe('unfinishedMoveProblem', () => {
  it('finds nothing wrong once the leader counts the new host a voter and the old one no member', async () => {
    const stateAt = async (host: number): Promise<GroupState> => (host === 2 ? leaderState() : { hasGroup: true, leaderId: 2, configuration: undefined })
    expect(await unfinishedMoveProblem(7, 3, 4, [2, 3, 4], stateAt)).toBeUndefined()
  })

  it('names the steps left while the old host is still a member', async () => {
    const stateAt = async (): Promise<GroupState> => leaderState({ ...settled, voters: [1, 2, 3], learners: [4] })
    expect(await unfinishedMoveProblem(7, 3, 4, [2], stateAt)).toMatch(/^ERR_BAD_ARGUMENT: Group 7's move from node 3 to node 4 is not done: its leader \(node 2\) has voters 1, 2, 3, learners 4\. Finish it with raftlog group move 7 --from 3 --to 4/)
  })

  it('gives up within GroupAdmin\'s 15 s when no host answers, each asked with a 2 s deadline', async () => {
    vi.useFakeTimers()
    const silent = (): Promise<GroupState> => new Promise((_, reject) => setTimeout(() => reject(new Error('DEADLINE_EXCEEDED')), 2000))
    const started = Date.now()
    const answer = unfinishedMoveProblem(7, 3, 4, [2, 3, 4], silent)
    let problem: string | undefined
    void answer.then((text) => (problem = text))
    await vi.advanceTimersByTimeAsync(15_000)
    expect(problem).toMatch(/^ERR_NO_LEADER: No leader of group 7 answered/)
    expect(Date.now() - started).toBeLessThanOrEqual(15_000)
    expect(leaderSearchMs + 2000).toBeLessThan(15_000)
  })
})
