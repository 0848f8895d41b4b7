// `raftlog kv put` sends a write in a client session: a command whose answer is lost is sent
// again, the same session entry (applied once by the cluster), until --timeout; only then does
// the outcome stay unknown, and the command says so with exit status 3.
import { describe, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { silentNode } from '../helpers/silent-node.js'

// The three wait out the same real timeout: side by side, not one after another.
describe('raftlog kv when answers are lost', () => {
  for (const words of [['put', 'k', 'v1'], ['delete', 'k'], ['cas', 'k', 'a', 'b']]) {
    it.concurrent(`kv ${words[0]} is sent again as the same session entry, then exits 3 saying it may or may not have been applied`, async ({ expect, onTestFinished }) => {
      const node = await silentNode(onTestFinished)
      const result = await runCli(['kv', ...words, '--endpoints', node.address, '--timeout', '5000'], { timeoutMs: 30_000 })
      expect(result.status).toBe(3)
      expect(result.stderr).toMatch(new RegExp(`^Error: ${words[0]} "k": The command may or may not have been applied: no leader answered within 5000 ms`))
      expect(node.commands.length).toBeGreaterThan(1)
      // Every copy is the same command of the same session: the cluster would apply it once.
      expect(new Set(node.commands.map((c) => `${c.clientId}/${c.sequence}/${Buffer.from(c.payload).toString('hex')}`)).size).toBe(1)
    })
  }
})
