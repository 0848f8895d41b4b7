// raftlog member and transfer-leader: the mistakes a user makes are refused before any network
// call, in one line that names the argument; a cluster that is not there fails fast. The real
// changes run against processes in membership-processes.test.ts.
import { describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { freePort, writeConfig } from '../helpers/processes.js'
import { tempDir } from '../helpers/temp-dir.js'

describe('raftlog member and transfer-leader', () => {
  const refused: [string[], RegExp][] = [
    [['member'], /^Error: member needs an action: list, add, promote, demote, update or remove$/m],
    [['member', 'grow', '4'], /^Error: unknown member action 'grow': list, add, promote, demote, update or remove$/m],
    [['member', 'promote', 'x'], /^Error: node id must be a whole number from 1, got 'x'$/m],
    [['member', 'add', '4'], /^Error: member add needs the new node's address: raftlog member add ID HOST:PORT$/m],
    [['member', 'add', '4', 'localhost'], /^Error: address must be host:port \(e\.g\. 127\.0\.0\.1:18004\), got 'localhost'$/m],
    [['member', 'remove', '1', '2'], /^Error: member remove takes 1 argument, got 2: 1 2$/m],
    [['member', 'remove', '1', '--learner'], /^Error: --learner goes with member add$/m],
    [['member', 'update', '2'], /^Error: member update needs the new address: raftlog member update ID --address HOST:PORT$/m],
    [['member', 'update', '2', '--address', 'nowhere'], /^Error: address must be host:port \(e\.g\. 127\.0\.0\.1:18004\), got 'nowhere'$/m],
    [['member', 'update', '2', '127.0.0.1:18012'], /^Error: member update takes 1 argument, got 2: 2 127\.0\.0\.1:18012$/m],
    [['member', 'add', '4', '127.0.0.1:18004', '--address', '127.0.0.1:18005'], /^Error: --address goes with member update/m],
    [['member', 'demote'], /^Error: member demote needs a node id$/m],
    [['transfer-leader', '--to', 'two'], /^Error: --to must be a node id \(a whole number from 1\), got 'two'$/m],
  ]
  it.each(refused)('refuses %j with exit status 2', async (args, message) => {
    const result = await runCli([...args, '--endpoints', '127.0.0.1:1'])
    expect(result.status).toBe(2)
    expect(result.stderr).toMatch(message)
    expect(result.stdout).toBe('')
  })

  it('fails fast when no node listens', async () => {
    const endpoints = `127.0.0.1:${await freePort()},127.0.0.1:${await freePort()}`
    const started = Date.now()
    const promote = await runCli(['member', 'promote', '4', '--endpoints', endpoints])
    expect(promote.status).toBe(1)
    expect(promote.stderr).toMatch(/^Error: no node answered: is the cluster running\? tried /)
    const transfer = await runCli(['transfer-leader', '--endpoints', endpoints])
    expect(transfer.status).toBe(1)
    expect(Date.now() - started).toBeLessThan(5000)
    const list = await runCli(['member', 'list', '--endpoints', endpoints])
    expect(list.status).toBe(1)
    expect(list.stderr).toContain('No node answered with its configuration: is the cluster running?')
  })

  it('node --join fails at once, naming the address, when nothing listens there', async () => {
    const dir = tempDir('raftlog-join-')
    const { path: config } = await writeConfig(dir, 1)
    const nowhere = `127.0.0.1:${await freePort()}`
    const started = Date.now()
    const join = await runCli(['node', '--node-id', '4', '--listen', `127.0.0.1:${await freePort()}`, '--join', nowhere, '--config', config])
    expect(join.status).toBe(1)
    expect(join.stderr).toContain(`Error: Node 4 could not join the cluster through ${nowhere}: no node answered: is the cluster running?`)
    expect(Date.now() - started).toBeLessThan(10_000)
  })

  it('has help for every action', async () => {
    const help = await runCli(['member', '--help'])
    expect(help.status).toBe(0)
    for (const usage of ['member list', 'member add ID ADDRESS [--learner]', 'member promote ID', 'member remove ID', 'member demote ID', 'member update ID --address HOST:PORT']) expect(help.stdout).toContain(usage)
    expect((await runCli(['transfer-leader', '--help'])).stdout).toContain('Usage: raftlog transfer-leader [--to ID]')
  })
})
