// Elections while nodes hold different configurations: a node that is behind (it has not yet
// received the entry that made the candidate a voter) must still answer its vote requests, or a
// majority that is alive may never elect anyone.
import { describe, expect, it } from 'vitest'
import { RaftCore } from '../../../src/raft/core/raft-core.js'
import { MemoryLogStore } from '../../../src/testing/memory-log-store.js'
import { encodeConfiguration, votersOnly, type Configuration } from '../../../src/raft/core/configuration.js'
import { seededRandom } from '../../../src/raft/core/seeded-random.js'
import { EntryType } from '../../../src/storage/log-entry.js'

type Entry = { term: number; type: EntryType; config?: Configuration }

/** A core whose log holds `entries` (Config entries carry their configuration), committed to `commit`. */
function core(id: number, entries: Entry[], commit: number): RaftCore {
  const log = new MemoryLogStore()
  log.append(entries.map(({ term, type, config }) => ({ term, type, data: config === undefined ? new Uint8Array(0) : encodeConfiguration(config) })))
  log.flush()
  const configurations = entries.flatMap((entry, i) => (entry.config === undefined ? [] : [{ index: i + 1, config: entry.config }]))
  return new RaftCore({ id, peers: [], configurations, log, hardState: { currentTerm: 2, votedFor: 1, commitIndex: commit }, electionTicks: [10, 20], heartbeatTicks: 2, random: seededRandom(id * 7919) })
}

describe('elections across configurations', () => {
  it('elects the new voter with the newest log although one voter has not heard of it yet', () => {
    // Node 4 joined {1,2,3} as a voter: C_old,new and C_new committed on 1, 2 and 4; node 3 is
    // still at C_old. Leader 1 appended one more entry that only node 4 holds, and crashed.
    // Node 4 needs 3 votes of {1,2,3,4}: node 2's and node 3's, and 3 knows it as no voter.
    const cOld = votersOnly([1, 2, 3])
    const base: Entry[] = [{ term: 1, type: EntryType.Config, config: cOld }, { term: 2, type: EntryType.NoOp }]
    const changed: Entry[] = [...base, { term: 2, type: EntryType.Config, config: { voters: [1, 2, 3, 4], outgoing: [1, 2, 3], learners: [], addresses: {} } }, { term: 2, type: EntryType.Config, config: votersOnly([1, 2, 3, 4]) }]
    const cores = new Map([
      [2, core(2, changed, 4)],
      [3, core(3, base, 2)],
      [4, core(4, [...changed, { term: 2, type: EntryType.Normal }], 4)],
    ])
    let leader: RaftCore | undefined
    for (let tick = 0; tick < 1000 && leader === undefined; tick++) {
      for (const node of cores.values()) node.tick()
      for (let moved = true; moved; ) {
        moved = false
        for (const node of cores.values()) {
          if (!node.hasReady()) continue
          const ready = node.ready()
          node.advance(ready)
          for (const message of ready.messages) {
            cores.get(message.to)?.step(message)
            moved = true
          }
        }
      }
      leader = [...cores.values()].find((node) => node.role === 'leader')
    }
    expect(leader?.id).toBe(4)
  })
})
