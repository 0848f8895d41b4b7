import { parseArgs } from 'node:util'
import { UsageError, type Command } from '../command.js'
import { timeoutFrom, tlsHelp, tlsOptions } from '../endpoints.js'
import { adminFrom } from '../host-admin.js'
import { wholeNumberOption } from '../whole-number-option.js'
import type { GroupAdmin } from '../../net/client/group-admin.js'

const help = `Usage: raftlog group list   [--config FILE] [--timeout MS] [--json]
       raftlog group create [--replication R | --replicas ID,ID,...] [--config FILE] [--timeout MS] [--json]
       raftlog group remove GROUP [--config FILE] [--timeout MS] [--json]
       raftlog group move GROUP --from ID --to ID [--config FILE] [--timeout MS] [--json]
  (each with [--cacert FILE [--cert FILE --key FILE]] for a cluster with TLS)

The groups of a many-group cluster (raftlog cluster --groups N, or cluster_settings.groups).
Which groups exist and where their replicas live is the cluster's group catalog, a Raft group
with a replica on every node: a change is an entry in its log, applied by every node in the same
order, each starting or stopping its own replicas as it applies.

  list     every group: its id, the nodes with a replica of it, the node that leads it (0 or
           "none" while it elects) and whether it holds a shard of the key-value store (groups
           1 to N). --json: an array of { group, replicas, leaderId, shard }.
  create   a new group, on R nodes placed so that every node holds about as many replicas as
           any other (--replication R, default 3 or every node when there are fewer), or on the
           nodes --replicas names. Prints its id, which is never reused. --json: { group, replicas }.
           A new group is not a shard of the key-value store: it is a Raft group of its own, for
           proposals through HostClient (the key space keeps its N groups).
  remove   stops every replica of GROUP and drops its log. The key-value store's shards (groups
           1 to N) cannot be removed: ERR_GROUP_IS_SHARD. --json: { group, removed: true }.
  move     moves GROUP's replica from node --from to node --to, by the group's own membership
           changes: the catalog records the move and --to starts an empty replica, which the
           group adds as a learner; it catches up (by log, or by snapshot when the log was
           compacted), is promoted to voter, leadership leaves --from if it led, and --from is
           removed, drops its replica and frees its log. Writes go on throughout. A node that
           left a group never holds it again (a Raft id never rejoins: ERR_ID_REMOVED). If the
           move is cut short (a node down, --timeout passed: ERR_TIMEOUT), run the same command
           again: it goes on from where the group is; run again once done, it answers with the
           replicas and changes nothing. --json: { group, replicas }.

A create, remove or move whose answer is lost (a node stopped meanwhile) may or may not have been
applied: look with raftlog group list before asking again.

Options:
  -c, --config FILE        the cluster configuration (default: cluster_config.yaml)
${tlsHelp}
  --replication R          create: replicas of the new group, 1 to the number of nodes
  --replicas ID,ID,...     create: the node ids to put the new group on (instead of --replication)
  --from ID, --to ID       move: the node the replica leaves and the node it goes to
  --timeout MS             how long to wait for the cluster (default 5000; a move: 60000)
  --json                   print JSON
  -h, --help               show this help

Examples:
  raftlog group list
  raftlog group create --replication 3
  raftlog group remove 9
  raftlog group move 3 --from 1 --to 4`

const actions = ['list', 'create', 'remove', 'move']

export const groupCommand: Command = {
  name: 'group',
  summary: 'List, create, remove and move the groups of a many-group cluster (raftlog cluster --groups N)',
  help,
  async run(args) {
    const { values, positionals } = parseArgs({
      args,
      options: { config: { type: 'string', short: 'c' }, timeout: { type: 'string' }, json: { type: 'boolean' }, replication: { type: 'string' }, replicas: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, ...tlsOptions },
      allowPositionals: true,
      strict: true,
    })
    const [action, ...rest] = positionals
    if (action === undefined) throw new UsageError(`group needs an action: ${actions.join(', ')}`)
    if (!actions.includes(action)) throw new UsageError(`unknown group action '${action}' (actions: ${actions.join(', ')})`)
    const wanted = action === 'remove' || action === 'move' ? 1 : 0
    if (rest.length !== wanted) throw new UsageError(wanted === 1 ? `group ${action} needs GROUP, the group's id (one), got ${rest.length === 0 ? 'none' : `'${rest.join(' ')}'`}` : `group ${action} takes no argument, got '${rest.join(' ')}'`)
    if (action !== 'create' && (values.replication !== undefined || values.replicas !== undefined)) throw new UsageError(`--replication and --replicas are for group create, not group ${action}`)
    if (values.replication !== undefined && values.replicas !== undefined) throw new UsageError('give --replication or --replicas, not both')
    const group = rest[0] === undefined ? undefined : wholeNumberOption(rest[0], 'GROUP', 1)
    if (action !== 'move' && (values.from !== undefined || values.to !== undefined)) throw new UsageError(`--from and --to are for group move, not group ${action}`)
    if (action === 'move' && (values.from === undefined || values.to === undefined)) throw new UsageError('group move needs --from ID and --to ID: the node the replica leaves and the node it goes to')
    const replication = values.replication === undefined ? undefined : wholeNumberOption(values.replication, '--replication', 1)
    const replicas = values.replicas === undefined ? undefined : replicasFrom(values.replicas)
    const admin = adminFrom(values, timeoutFrom(values.timeout))
    try {
      if (action === 'move') {
        const from = wholeNumberOption(values.from as string, '--from', 1)
        const to = wholeNumberOption(values.to as string, '--to', 1)
        if (from === to) throw new UsageError(`--from and --to are the same node (${from}): a move takes a replica from one node to another`)
        console.error(`moving group ${group}'s replica from node ${from} to node ${to}: learner, catch up, promote, remove…`)
        const moved = await admin.move(group as number, from, to, values.timeout === undefined ? undefined : timeoutFrom(values.timeout))
        console.log(values.json === true ? JSON.stringify(moved) : `moved group ${group}'s replica from node ${from} to node ${to}: replicas on nodes ${moved.replicas.join(', ')}`)
        return 0
      }
      if (action === 'list') return await list(admin, values.json === true)
      if (action === 'create') {
        const created = await admin.create({ ...(replication === undefined ? {} : { replication }), ...(replicas === undefined ? {} : { replicas }) })
        console.log(values.json === true ? JSON.stringify(created) : `created group ${created.group} on nodes ${created.replicas.join(', ')}`)
        return 0
      }
      await admin.remove(group as number)
      console.log(values.json === true ? JSON.stringify({ group, removed: true }) : `removed group ${group}`)
      return 0
    } finally {
      admin.close()
    }
  },
}

async function list(admin: GroupAdmin, json: boolean): Promise<number> {
  const groups = await admin.list()
  if (json) console.log(JSON.stringify(groups, null, 2))
  else for (const g of groups) console.log(`group ${g.group}: replicas on nodes ${g.replicas.join(', ')}, leader ${g.leaderId === 0 ? 'none' : `node ${g.leaderId}`}${g.shard ? ', a key-value shard' : ''}${g.moving === undefined ? '' : `, moving from node ${g.moving.from} to node ${g.moving.to}`}`)
  return 0
}

function replicasFrom(text: string): number[] {
  const ids = text.split(',').map((part) => part.trim())
  if (ids.some((id) => !/^\d+$/.test(id) || Number(id) < 1)) throw new UsageError(`--replicas must be node ids separated by commas (1,2,3), got '${text}'`)
  const twice = ids.find((id, i) => ids.indexOf(id) !== i)
  if (twice !== undefined) throw new UsageError(`--replicas names node ${twice} twice ('${text}'): a group has at most one replica on a node`)
  return ids.map(Number)
}
