// `raftlog kv del`, `raftlog txn` and `raftlog compact` write in a client session, as kv put does:
// a command whose answer is lost is sent again, the same session entry (applied once), until
// --timeout; then the outcome is unknown and the command says so with exit status 3.
import { describe, it } from 'vitest'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { decodeKvCommand } from '../../src/kv/kv-state-machine.js'
import { runCli } from '../helpers/cli.js'
import { silentNode } from '../helpers/silent-node.js'
import { tempDir } from '../helpers/temp-dir.js'

const cases: { name: string; words: (dir: string) => string[]; message: RegExp; op: string }[] = [
  { name: 'kv del', words: () => ['kv', 'del', 'k', '--prefix'], message: /^Error: del "k": The command may or may not have been applied: no leader answered within 5000 ms/, op: 'txn' },
  {
    name: 'txn',
    words: (dir) => {
      const file = join(dir, 'txn.txt')
      writeFileSync(file, 'value("k") = "v"\n\nput k w\n\n')
      return ['txn', '--file', file]
    },
    message: /^Error: The command may or may not have been applied: no leader answered within 5000 ms/,
    op: 'txn',
  },
  { name: 'compact', words: () => ['compact', '5'], message: /^Error: The command may or may not have been applied: no leader answered within 5000 ms/, op: 'compact' },
]

// They wait out the same real timeout: side by side, not one after another.
describe("raftlog's etcd verbs when answers are lost", () => {
  for (const { name, words, message, op } of cases) {
    it.concurrent(`${name} is sent again as the same session entry, then exits 3 saying it may or may not have been applied`, async ({ expect, onTestFinished }) => {
      const node = await silentNode(onTestFinished)
      const result = await runCli([...words(tempDir('raftlog-etcd-verbs-')), '--endpoints', node.address, '--timeout', '5000'], { timeoutMs: 30_000 })
      expect(result.status, result.stderr).toBe(3)
      expect(result.stderr).toMatch(message)
      expect(node.commands.length).toBeGreaterThan(1)
      expect(decodeKvCommand(node.commands[0]!.payload).op).toBe(op)
      // Every copy is the same command of the same session: the cluster would apply it once.
      expect(new Set(node.commands.map((c) => `${c.clientId}/${c.sequence}/${Buffer.from(c.payload).toString('hex')}`)).size).toBe(1)
    })
  }
})
