// The group catalog's state machine (group-catalog.ts), in memory: founded once whatever the
// number of hosts that ask, groups created where placement says, ids never reused, shards kept.
import { describe, expect, it } from 'vitest'
import { decodeCatalogResult, encodeCatalogCommand, GroupCatalog, type CatalogChange, type CatalogCommand } from '../../src/host/group-catalog.js'
import { EntryType } from '../../src/storage/log-entry.js'

let index = 0
function apply(catalog: GroupCatalog, command: CatalogCommand | string) {
  const data = typeof command === 'string' ? Buffer.from(command) : encodeCatalogCommand(command)
  return decodeCatalogResult(catalog.apply({ index: ++index, term: 1, type: EntryType.Normal, data }))
}

describe('GroupCatalog', () => {
  it('is founded by the first init only: a second (another host\'s leader asking too) changes nothing', () => {
    const catalog = new GroupCatalog()
    const changes: CatalogChange[] = []
    catalog.onChange((change) => changes.push(change))
    expect(catalog.founded).toBe(false)
    expect(apply(catalog, { op: 'init', hosts: [1, 2, 3, 4], groups: 8, replication: 3 })).toEqual({ ok: true })
    expect(apply(catalog, { op: 'init', hosts: [1, 2], groups: 2, replication: 1 })).toEqual({ ok: true })
    const view = catalog.view()
    expect(view).toMatchObject({ hosts: [1, 2, 3, 4], shards: 8 })
    expect(view.groups.map((g) => g.group)).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
    for (const { replicas } of view.groups) expect(replicas).toHaveLength(3)
    expect(changes).toHaveLength(8)
    expect(changes.every((change) => change.kind === 'added')).toBe(true)
  })

  it('records a replica move: the new host holds the group at once, the old one until the move is done, and never again after', () => {
    const catalog = new GroupCatalog()
    apply(catalog, { op: 'init', hosts: [1, 2, 3, 4], groups: 1, replication: 3 })
    const [first] = catalog.view().groups
    const from = first!.replicas[0]!
    const to = [1, 2, 3, 4].find((id) => !first!.replicas.includes(id))!
    const changes: CatalogChange[] = []
    catalog.onChange((change) => changes.push(change))
    expect(apply(catalog, { op: 'move', group: 1, from, to })).toEqual({ ok: true, group: 1, replicas: [1, 2, 3, 4] })
    // Asked again (an answer lost, or the command run again): the same answer, nothing more.
    expect(apply(catalog, { op: 'move', group: 1, from, to })).toEqual({ ok: true, group: 1, replicas: [1, 2, 3, 4] })
    expect(catalog.view().groups[0]).toEqual({ group: 1, replicas: [1, 2, 3, 4], moving: { from, to } })
    const other = first!.replicas[1]!
    expect(apply(catalog, { op: 'move', group: 1, from: other, to })).toMatchObject({ ok: false, code: 'ERR_CHANGE_IN_PROGRESS' })
    expect(apply(catalog, { op: 'moved', group: 1, from: other, to })).toMatchObject({ ok: false, code: 'ERR_BAD_ARGUMENT' })
    const after = [1, 2, 3, 4].filter((id) => id !== from)
    expect(apply(catalog, { op: 'moved', group: 1, from, to })).toEqual({ ok: true, group: 1, replicas: after })
    expect(apply(catalog, { op: 'moved', group: 1, from, to })).toEqual({ ok: true, group: 1, replicas: after })
    expect(catalog.view().groups[0]).toEqual({ group: 1, replicas: after })
    expect(changes.map((change) => change.kind)).toEqual(['moving', 'moved'])
    // The move asked again once done (an answer lost, or the operator unsure): done already, nothing changes.
    expect(apply(catalog, { op: 'move', group: 1, from, to })).toEqual({ ok: true, group: 1, replicas: after })
    expect(changes.map((change) => change.kind)).toEqual(['moving', 'moved'])
    // A Raft id never rejoins its group: the old host can never hold it again.
    expect(apply(catalog, { op: 'move', group: 1, from: to, to: from })).toMatchObject({ ok: false, code: 'ERR_ID_REMOVED' })
    expect(apply(catalog, { op: 'move', group: 1, from: to, to: 9 })).toMatchObject({ ok: false, code: 'ERR_BAD_ARGUMENT' })
    // Another move from the host that left: it holds no replica.
    expect(apply(catalog, { op: 'move', group: 1, from, to: after.find((id) => id !== to)! })).toMatchObject({ ok: false, code: 'ERR_BAD_ARGUMENT' })
    expect(apply(catalog, { op: 'move', group: 7, from: 1, to: 2 })).toMatchObject({ ok: false, code: 'ERR_NO_GROUP' })
  })

  it('takes a joining host: its address kept, groups placed on it and moved to it, asked again answered the same, a reused id refused', () => {
    const catalog = new GroupCatalog()
    apply(catalog, { op: 'init', hosts: [1, 2, 3], groups: 3, replication: 3 })
    const changes: CatalogChange[] = []
    catalog.onChange((change) => changes.push(change))
    expect(apply(catalog, { op: 'move', group: 1, from: 1, to: 4 })).toMatchObject({ ok: false, code: 'ERR_BAD_ARGUMENT' })
    expect(apply(catalog, { op: 'join', host: 4, address: '127.0.0.1:18004' })).toEqual({ ok: true, hosts: [1, 2, 3, 4] })
    expect(apply(catalog, { op: 'join', host: 4, address: '127.0.0.1:18004' })).toEqual({ ok: true, hosts: [1, 2, 3, 4] })
    expect(catalog.view()).toMatchObject({ hosts: [1, 2, 3, 4], addresses: { 4: '127.0.0.1:18004' } })
    expect(changes).toEqual([{ kind: 'joined', host: 4, address: '127.0.0.1:18004' }])
    // The least loaded host takes the next group; a replica can move to it.
    expect(apply(catalog, { op: 'create', replication: 1 })).toEqual({ ok: true, group: 4, replicas: [4] })
    expect(apply(catalog, { op: 'move', group: 1, from: 1, to: 4 })).toMatchObject({ ok: true, replicas: [1, 2, 3, 4] })
    // Another machine under the same id, or the same one with a new directory, would vote again in old terms.
    expect(apply(catalog, { op: 'join', host: 4, address: '10.0.0.4:18004' })).toMatchObject({ ok: false, code: 'ERR_ID_IN_USE' })
    expect(apply(catalog, { op: 'join', host: 4, address: '127.0.0.1:18004', fresh: true })).toMatchObject({ ok: false, code: 'ERR_ID_IN_USE', message: expect.stringMatching(/new directory/) })
    expect(catalog.view().addresses).toEqual({ 4: '127.0.0.1:18004' })
    expect(apply(catalog, { op: 'join', host: 2, address: '127.0.0.1:18009' })).toMatchObject({ ok: false, code: 'ERR_ID_IN_USE', message: expect.stringMatching(/founding nodes 1, 2, 3\)/) })
    expect(apply(catalog, { op: 'join', host: 2 ** 32, address: '127.0.0.1:18009' })).toMatchObject({ ok: false, code: 'ERR_BAD_ARGUMENT' })
    expect(apply(catalog, { op: 'join', host: 0, address: '127.0.0.1:18009' })).toMatchObject({ ok: false, code: 'ERR_BAD_ARGUMENT' })
    expect(apply(catalog, { op: 'join', host: 5, address: 'no port' })).toMatchObject({ ok: false, code: 'ERR_BAD_ARGUMENT' })
    expect(apply(catalog, { op: 'join', host: 5, address: 7 } as unknown as CatalogCommand)).toMatchObject({ ok: false, code: 'ERR_BAD_ARGUMENT' })
    expect(catalog.view().hosts).toEqual([1, 2, 3, 4])
  })

  it('records the founders that ran: one starting again with a new directory is refused, a host the founding did not name is told to join', () => {
    const catalog = new GroupCatalog()
    apply(catalog, { op: 'init', hosts: [1, 2, 3], groups: 1, replication: 3 })
    apply(catalog, { op: 'join', host: 4, address: '127.0.0.1:18004' })
    // A founder's first start may check in with a new directory; later starts keep theirs.
    expect(apply(catalog, { op: 'started', host: 1, fresh: true })).toMatchObject({ ok: true })
    expect(apply(catalog, { op: 'started', host: 1, fresh: false })).toMatchObject({ ok: true })
    expect(apply(catalog, { op: 'started', host: 1, fresh: true })).toMatchObject({ ok: false, code: 'ERR_ID_IN_USE', message: expect.stringMatching(/Node 1 ran in this cluster before, and starts again with a new directory/) })
    // A founder that never checked in (it was down at the founding) starts for the first time.
    expect(apply(catalog, { op: 'started', host: 2, fresh: true })).toMatchObject({ ok: true })
    // A joined host listed in the file since: its join recorded it.
    expect(apply(catalog, { op: 'started', host: 4, fresh: false })).toMatchObject({ ok: true })
    expect(apply(catalog, { op: 'started', host: 4, fresh: true })).toMatchObject({ ok: false, code: 'ERR_ID_IN_USE' })
    // Listed in the file since, at another address than it joined at: the others send to the old one.
    expect(apply(catalog, { op: 'started', host: 4, fresh: false, address: '127.0.0.1:18008' })).toMatchObject({ ok: false, code: 'ERR_ID_IN_USE', message: expect.stringMatching(/joined the cluster at 127\.0\.0\.1:18004, and starts at 127\.0\.0\.1:18008/) })
    // A second node cannot join at a joined node's address.
    expect(apply(catalog, { op: 'join', host: 6, address: '127.0.0.1:18004' })).toMatchObject({ ok: false, code: 'ERR_BAD_ARGUMENT', message: expect.stringMatching(/where node 4 serves/) })
    expect(apply(catalog, { op: 'started', host: 5, fresh: true })).toMatchObject({ ok: false, code: 'ERR_CONFIG', message: expect.stringMatching(/founding nodes 1, 2, 3\).*--join/) })
  })

  it('creates groups on the least loaded hosts, with the next id, and never hands a removed id out again', () => {
    const catalog = new GroupCatalog()
    apply(catalog, { op: 'init', hosts: [1, 2, 3, 4], groups: 2, replication: 2 })
    const created = apply(catalog, { op: 'create' })
    expect(created).toMatchObject({ ok: true, group: 3 })
    // Groups 1 and 2 filled two hosts; R defaults to 3 of 4.
    expect((created as { replicas: number[] }).replicas).toHaveLength(3)
    expect(apply(catalog, { op: 'create', replicas: [4, 2] })).toEqual({ ok: true, group: 4, replicas: [2, 4] })
    expect(apply(catalog, { op: 'remove', group: 4 })).toEqual({ ok: true, group: 4 })
    expect(apply(catalog, { op: 'create', replication: 1 })).toMatchObject({ ok: true, group: 5 })
    expect(catalog.view().groups.map((g) => g.group)).toEqual([1, 2, 3, 5])
  })

  it('refuses, the same way on every host, what it cannot do', () => {
    const catalog = new GroupCatalog()
    expect(apply(catalog, { op: 'create' })).toMatchObject({ ok: false, code: 'ERR_NO_GROUP', message: expect.stringContaining('not founded yet') })
    expect(apply(catalog, { op: 'init', hosts: [1, 2, 3], groups: 1e9, replication: 3 })).toMatchObject({ ok: false, code: 'ERR_BAD_ARGUMENT', message: expect.stringContaining('groups must be a whole number from 1 to 100000') })
    expect(apply(catalog, { op: 'init', hosts: [], groups: 2, replication: 1 })).toMatchObject({ ok: false, code: 'ERR_BAD_ARGUMENT' })
    expect(catalog.founded).toBe(false)
    apply(catalog, { op: 'init', hosts: [1, 2, 3], groups: 2, replication: 3 })
    expect(apply(catalog, { op: 'remove', group: 2 })).toMatchObject({ ok: false, code: 'ERR_GROUP_IS_SHARD', message: expect.stringContaining('Group 2 holds a shard') })
    expect(apply(catalog, { op: 'remove', group: 9 })).toMatchObject({ ok: false, code: 'ERR_NO_GROUP', message: expect.stringContaining('Group 9 is not in the catalog') })
    expect(apply(catalog, { op: 'create', replication: 4 })).toMatchObject({ ok: false, code: 'ERR_BAD_ARGUMENT', message: expect.stringContaining('replication must be') })
    expect(apply(catalog, { op: 'create', replicas: [1, 7] })).toMatchObject({ ok: false, code: 'ERR_BAD_ARGUMENT', message: expect.stringContaining('host 7') })
    expect(apply(catalog, 'not json')).toMatchObject({ ok: false, code: 'ERR_BAD_COMMAND' })
    expect(catalog.view().groups.map((g) => g.group)).toEqual([1, 2])
  })

  it('answers a change sent again under the same request id as the first time, and does it once', () => {
    const catalog = new GroupCatalog()
    apply(catalog, { op: 'init', hosts: [1, 2, 3], groups: 1, replication: 3 })
    const first = apply(catalog, { op: 'create', request: 'a' })
    expect(apply(catalog, { op: 'create', request: 'a' })).toEqual(first)
    expect(apply(catalog, { op: 'remove', group: 2, request: 'b' })).toEqual({ ok: true, group: 2 })
    expect(apply(catalog, { op: 'remove', group: 2, request: 'b' })).toEqual({ ok: true, group: 2 })
    expect(apply(catalog, { op: 'create', request: 'c' })).toMatchObject({ ok: true, group: 3 })
    expect(catalog.view().groups.map((g) => g.group)).toEqual([1, 3])
  })

  it('tells its listeners of a removal', () => {
    const catalog = new GroupCatalog()
    apply(catalog, { op: 'init', hosts: [1, 2, 3], groups: 1, replication: 3 })
    apply(catalog, { op: 'create' })
    const changes: CatalogChange[] = []
    catalog.onChange((change) => changes.push(change))
    apply(catalog, { op: 'remove', group: 2 })
    expect(changes).toEqual([{ kind: 'removed', group: 2 }])
  })
})
