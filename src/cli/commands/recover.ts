import { parseArgs } from 'node:util'
import { createInterface } from 'node:readline/promises'
import { UsageError, type Command } from '../command.js'
import { RaftLogError } from '../../errors.js'
import { describeConfiguration } from '../../raft/core/configuration.js'
import { planNewClusterRecovery, recoverAsNewCluster, type NewClusterPlan } from '../../verify/recover-as-new-cluster.js'
import { plural } from '../plural.js'
import { answeringStatuses } from '../../net/server/cluster-check.js'
import { membersOf, type Configuration } from '../../raft/core/configuration.js'

const help = `Usage: raftlog recover DIR --as-new-cluster [--yes | --dry-run]

For a cluster that lost its majority for good (the machines of most voters are gone, so no
leader can ever be elected again): makes the node whose directory is DIR the only member of a
new one-node cluster, which you then grow again with raftlog member add. etcd calls this
--force-new-cluster, hashicorp/raft RecoverCluster.

Pick the survivor with raftlog inspect on each directory left: the highest last term, then the
highest last index (the 'last entry' line). Stop its node first: recover refuses a directory a
running process holds.

Every entry the node holds stays, committed or not: recover says how many are beyond the commit
index the node knew (a client may never have been told they were written; the new cluster keeps
them). It appends a configuration entry with this node as the only voter, every other member
removed (their ids are never used again: add new machines under new ids), in a term above any
the node has seen, records it in raft_state.meta as committed, and gives the directory a new
cluster id: the old members cannot talk to it by mistake. The configuration file you start the
node with afterwards may still list the old members: the configuration in the log wins.

It refuses when the other members it would remove still answer as members of the cluster and,
with this node started again, are a majority of its voters: then nothing is lost, and a
recovered node would split the cluster in two (writes the others acknowledge afterwards would be
lost to it). Nodes of a cluster with peer or client TLS are not asked (recover has no
certificate).

It first prints what it will do and asks; --yes does not ask (needed when standard input is not
a terminal). Before it changes anything it copies every file it will change into a new folder
beside DIR, DIR.recover-<time>, and prints its path.

Afterwards:
  raftlog node -n ID -c FILE                        start the recovered node: it leads alone
  raftlog member add NEW-ID HOST:PORT               for each new member, then start it with
  raftlog node -n NEW-ID --listen HOST:PORT --join ADDRESS-OF-THE-RECOVERED-NODE

Options:
  --as-new-cluster   required: says what kind of recovery this is
  -y, --yes          do not ask for confirmation
  --dry-run          print what it would do, change nothing
  -h, --help         show this help

Exit status: 0 recovered (or a dry run); 1 refused (a majority still answers, a running node holds
DIR), failed or not confirmed (nothing changed); 2 bad usage.

Example:
  raftlog recover ./raft_logs/node_1 --as-new-cluster`

/**
 * The other members of `config` (not `nodeId`) that answer as nodes of the cluster founded as
 * `foundingId`, by id and address. Asked in plaintext: a TLS cluster's nodes do not answer.
 */
async function membersAnswering(config: Configuration, nodeId: number, foundingId: string): Promise<{ id: number; address: string }[]> {
  const others = membersOf(config).filter((id) => id !== nodeId && (config.addresses[id] ?? '') !== '')
  if (foundingId === '') return []
  const statuses = await answeringStatuses(others.map((id) => config.addresses[id] as string), undefined)
  return statuses.filter((status) => status.foundingId === foundingId && typeof status.id === 'number' && others.includes(status.id)).map((status) => ({ id: status.id as number, address: status.address }))
}

/** What recovery will do, in one screen. */
export function describePlan(plan: NewClusterPlan): string[] {
  const self = plan.next.addresses[plan.nodeId]
  const beyond = plan.beyondCommit === 0
    ? `  every entry is within the commit index node ${plan.nodeId} last recorded (${plan.commitIndex})`
    : `  ${plural(plan.beyondCommit, 'entry', 'entries')} (${plan.commitIndex + 1}..${plan.lastIndex}) ${plan.beyondCommit === 1 ? 'is' : 'are'} beyond the commit index it last recorded (${plan.commitIndex}; a node records it now and then, so some may have been committed and acknowledged, others never): the new cluster keeps ${plan.beyondCommit === 1 ? 'it' : 'them'}`
  return [
    `recover ${plan.dir} as a new cluster: node ${plan.nodeId}${self === undefined ? '' : ` at ${self}`} becomes its only member`,
    `  last entry: index ${plan.lastIndex}, term ${plan.lastTerm}; every entry stays`,
    beyond,
    `  configuration now (index ${plan.current.index}): ${describeConfiguration(plan.current.config)}`,
    `  new configuration (entry ${plan.entryIndex}, term ${plan.entryTerm}, recorded as committed): ${describeConfiguration(plan.next)}`,
    `  cluster id ${plan.oldClusterId || '(none)'} becomes ${plan.newClusterId}`,
    `  before it changes anything: copies ${plan.files.join(', ')} to ${plan.backup}`,
    ...plan.notes.map((note) => `  note: ${note}`),
  ]
}

async function confirmed(): Promise<boolean> {
  const prompt = createInterface({ input: process.stdin, output: process.stdout })
  try {
    const answer = await prompt.question('Go ahead? [y/N] ')
    return /^y(es)?$/i.test(answer.trim())
  } finally {
    prompt.close()
  }
}

export const recoverCommand: Command = {
  name: 'recover',
  summary: 'Make one surviving node the only member of a new cluster (a lost majority)',
  help,
  async run(args) {
    const { values, positionals } = parseArgs({
      args,
      options: { 'as-new-cluster': { type: 'boolean' }, yes: { type: 'boolean', short: 'y' }, 'dry-run': { type: 'boolean' } },
      allowPositionals: true,
      strict: true,
    })
    const dir = positionals[0]
    if (dir === undefined || positionals.length > 1) throw new UsageError('recover takes exactly one directory')
    if (values['as-new-cluster'] !== true) throw new UsageError('recover needs --as-new-cluster (the only kind of recovery there is: one node founds a new cluster)')
    if (values.yes === true && values['dry-run'] === true) throw new UsageError('--yes and --dry-run go against each other')
    const plan = await planNewClusterRecovery(dir)
    console.log(describePlan(plan).join('\n'))
    const answering = await membersAnswering(plan.current.config, plan.nodeId, plan.oldFoundingId)
    const voters = plan.current.config.voters
    const votersUp = answering.filter((member) => voters.includes(member.id)).length + (voters.includes(plan.nodeId) ? 1 : 0)
    if (answering.length > 0 && votersUp > voters.length / 2) {
      throw new RaftLogError(
        'ERR_MAJORITY_ALIVE',
        `The majority is not lost: ${answering.map((member) => `node ${member.id} at ${member.address}`).join(', ')} ${answering.length === 1 ? 'answers' : 'answer'} as ${answering.length === 1 ? 'a member' : 'members'} of cluster ${plan.oldClusterId}, and with node ${plan.nodeId} started again ${votersUp} of its ${voters.length} voters run. Start node ${plan.nodeId} again (raftlog node -n ${plan.nodeId}): it catches up with them. Recovered, it would be a cluster of its own beside them, and writes they acknowledge from now on would not be in it. Nothing was changed`,
      )
    }
    if (answering.length > 0) console.log(`  note: ${answering.map((member) => `node ${member.id} at ${member.address}`).join(', ')} still ${answering.length === 1 ? 'answers' : 'answer'} (not a majority with node ${plan.nodeId}): stop ${answering.length === 1 ? 'it' : 'them'} for good before starting the recovered node, and never start ${answering.length === 1 ? 'it' : 'them'} again`)
    if (values['dry-run'] === true) {
      console.log('dry run: nothing changed (a run that recovers chooses its own random cluster id)')
      return 0
    }
    if (values.yes !== true) {
      if (process.stdin.isTTY !== true) throw new RaftLogError('ERR_NOT_CONFIRMED', 'recover changes the directory for good and asks first, but standard input is not a terminal: give --yes to go ahead without asking. Nothing was changed')
      if (!(await confirmed())) {
        console.log('not confirmed: nothing changed')
        return 1
      }
    }
    const backup = await recoverAsNewCluster(plan)
    console.log(
      [
        `recovered: node ${plan.nodeId} is the only member of cluster ${plan.newClusterId} (configuration at index ${plan.entryIndex}, term ${plan.entryTerm}); backup in ${backup}`,
        `next: start it (raftlog node -n ${plan.nodeId} -c FILE), then add members under new ids (raftlog member add ID HOST:PORT, then raftlog node -n ID --listen HOST:PORT --join ${plan.next.addresses[plan.nodeId] ?? 'ITS-ADDRESS'})`,
      ].join('\n'),
    )
    return 0
  },
}
