// What the RaftNode tests over MemoryNetwork share: polling for a condition, finding the leader.
import type { RaftNode } from '../../src/index.js'

/** Polls `probe` every `pollMs` until it returns a value (not undefined or false); throws naming `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 10_000, pollMs = 5): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = probe()
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, pollMs))
  }
}

/** The node that leads in the highest term among `nodes` (not `except`), if any. */
export function leaderAmong(nodes: Iterable<RaftNode>, except?: number): RaftNode | undefined {
  return [...nodes].filter((node) => node.id !== except && node.status().role === 'leader').sort((a, b) => b.status().term - a.status().term)[0]
}
