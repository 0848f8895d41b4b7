// What `raftlog status` and `member list` say of a node they cannot ask: in words, not grpc's
// text; and a node removed from the cluster but still in the YAML file is not a member, not
// "unreachable". Against real `raftlog node` processes.
import { describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { exited, startNode, statuses, waitFor, writeConfig } from '../helpers/processes.js'
import { tempDir } from '../helpers/temp-dir.js'

describe('status and member list of a removed node', () => {
  it('show a removed node still in the file as not a member, and why it does not answer, in words', { timeout: 60_000 }, async () => {
    const dir = tempDir('raftlog-status-removed-')
    const { path: config, ports } = await writeConfig(dir, 3)
    const nodes = [1, 2, 3].map((id) => startNode(config, id))
    try {
      const leader = await waitFor('a leader', async () => (await statuses(config)).find((s) => s.reachable && s.role === 'leader'))
      const removed = leader.id === 3 ? 2 : 3
      expect((await runCli(['member', 'remove', String(removed), '--config', config])).stdout).toMatch(/^membership now: voters /)
      // It stops by itself once it hears of its removal (its exit status is the node command's business).
      await exited(nodes[removed - 1]!.child)

      const text = await runCli(['status', '--config', config, '--timeout', '1000'])
      const line = text.stdout.split('\n').find((l) => l.startsWith(`node ${removed} `))
      expect(line).toBe(`node ${removed} 127.0.0.1:${ports[removed - 1]}: not a member (not running: nothing listens at that address (ECONNREFUSED))`)
      expect(text.stdout).not.toContain('No connection established')
      const json = JSON.parse((await runCli(['status', '--config', config, '--json', '--timeout', '1000'])).stdout) as Record<string, unknown>[]
      expect(json.find((s) => s.id === removed)).toEqual({ id: removed, address: `127.0.0.1:${ports[removed - 1]}`, reachable: false, suffrage: 'not a member', error: 'not running: nothing listens at that address (ECONNREFUSED)' })

      const list = await runCli(['member', 'list', '--config', config])
      expect(list.status, list.stderr).toBe(0)
      expect(list.stdout).not.toMatch(new RegExp(`^${removed}\\s`, 'm'))
      expect(list.stdout.trim().split('\n')).toHaveLength(3)
    } finally {
      for (const node of nodes) node.child.kill('SIGKILL')
      await Promise.all(nodes.map((node) => exited(node.child)))
    }
  })
})
