// raftlog group's mistakes, said before anything is asked of a cluster: each names the argument (exit 2).
import { describe, expect, it } from 'vitest'
import { runCliHere } from '../helpers/cli.js'

describe('raftlog group, called wrongly', () => {
  it.each([
    [['group'], 'group needs an action: list, create, remove, move'],
    [['group', 'frob'], "unknown group action 'frob' (actions: list, create, remove, move)"],
    [['group', 'remove'], 'group remove needs GROUP, the group\'s id (one), got none'],
    [['group', 'list', '7'], "group list takes no argument, got '7'"],
    [['group', 'remove', 'x'], "GROUP must be a whole number from 1, got 'x'"],
    [['group', 'create', '--replication', '2', '--replicas', '1,2'], 'give --replication or --replicas, not both'],
    [['group', 'create', '--replicas', '1,,2'], "--replicas must be node ids separated by commas (1,2,3), got '1,,2'"],
    [['group', 'create', '--replication', '0'], "--replication must be a whole number from 1, got '0'"],
    [['group', 'remove', '4', '--replication', '2'], '--replication and --replicas are for group create, not group remove'],
    [['group', 'move', '3', '--to', '2'], 'group move needs --from ID and --to ID: the node the replica leaves and the node it goes to'],
    [['group', 'move', '3', '--from', '1', '--to', 'two'], "--to must be a whole number from 1, got 'two'"],
    [['group', 'remove', '3', '--from', '1'], '--from and --to are for group move, not group remove'],
  ])('raftlog %j', async (args, message) => {
    const result = await runCliHere(args)
    expect(result.status).toBe(2)
    expect(result.stderr).toBe(`Error: ${message}\nRun \`raftlog group --help\` for usage.\n`)
  })

  it('has help naming every action', async () => {
    const result = await runCliHere(['group', '--help'])
    expect(result.status).toBe(0)
    for (const action of ['group list', 'group create', 'group remove', 'group move']) expect(result.stdout).toContain(`raftlog ${action}`)
  })
})
