import { afterEach, describe, expect, it } from 'vitest'
import { MemoryNetwork } from '../../src/testing/index.js'
import type { RaftMessage } from '../../src/raft/core/messages.js'

function heartbeat(from: number, to: number, term = 1): RaftMessage {
  return { type: 'AppendEntries', from, to, term, prevLogIndex: 0, prevLogTerm: 0, entries: [], leaderCommit: 0, seq: 0 }
}

const networks: MemoryNetwork[] = []
afterEach(() => {
  for (const network of networks.splice(0)) network.close()
})

/** Three endpoints recording what they receive. */
function wire(seed = 1): { network: MemoryNetwork; received: Map<number, RaftMessage[]> } {
  const network = new MemoryNetwork({ seed })
  networks.push(network)
  const received = new Map<number, RaftMessage[]>()
  for (const id of [1, 2, 3]) {
    received.set(id, [])
    network.endpoint(id).onMessage((message) => received.get(id)!.push(message))
  }
  return { network, received }
}

const settle = (ms = 30): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

describe('MemoryNetwork', () => {
  it('delivers, and stops delivering to and from a disconnected node until it is connected', async () => {
    const { network, received } = wire()
    network.endpoint(1).send(heartbeat(1, 2))
    network.disconnect(2)
    network.endpoint(1).send(heartbeat(1, 2, 2))
    network.endpoint(2).send(heartbeat(2, 3))
    await settle()
    expect(received.get(2)!.map((m) => m.term)).toEqual([])
    network.connect(2)
    network.endpoint(1).send(heartbeat(1, 2, 3))
    await settle()
    expect(received.get(2)!.map((m) => m.term)).toEqual([3])
    expect(received.get(3)).toEqual([])
  })

  it('partitions groups until healed, cutting messages already in flight', async () => {
    const { network, received } = wire()
    network.endpoint(1).send(heartbeat(1, 3))
    network.partition([1, 2], [3])
    network.endpoint(1).send(heartbeat(1, 2))
    network.endpoint(1).send(heartbeat(1, 3))
    await settle()
    expect(received.get(2)!.length).toBe(1)
    expect(received.get(3)!.length).toBe(0)
    network.heal()
    network.endpoint(1).send(heartbeat(1, 3))
    await settle()
    expect(received.get(3)!.length).toBe(1)
  })

  it('an unreliable link drops about the given share, the same ones for the same seed', async () => {
    const run = async (seed: number): Promise<number[]> => {
      const { network, received } = wire(seed)
      network.setUnreliable({ dropRate: 0.3, minDelayMs: 0, maxDelayMs: 5, reorder: true })
      for (let term = 1; term <= 400; term++) network.endpoint(1).send(heartbeat(1, 2, term))
      await settle(60)
      return received.get(2)!.map((m) => m.term)
    }
    const first = await run(42)
    expect(first.length).toBeGreaterThan(220)
    expect(first.length).toBeLessThan(340)
    expect([...first].sort((a, b) => a - b)).toEqual(await run(42).then((again) => [...again].sort((a, b) => a - b)))
    // Reordered: not everything arrives in the order sent.
    expect(first).not.toEqual([...first].sort((a, b) => a - b))
  })

  it('refuses a message that claims another sender', () => {
    const { network } = wire()
    expect(() => network.endpoint(1).send(heartbeat(2, 3))).toThrow(/claiming to be from 2/)
  })
})
