import { parseArgs } from 'node:util'
import { UsageError, type Command } from '../command.js'
import { clientFrom, timeoutFrom, tlsHelp, tlsOptions } from '../endpoints.js'
import { unknownOutcome } from '../unknown-outcome.js'
import type { ClusterClient, NodeStatus } from '../../net/client/cluster-client.js'
import type { MembershipChange } from '../../raft/core/membership-change.js'
import { describeConfiguration, type Configuration } from '../../raft/core/configuration.js'
import { isHostPort } from '../../net/config/host-port.js'

const help = `Usage: raftlog member list [--json]
       raftlog member add ID ADDRESS [--learner]
       raftlog member promote ID
       raftlog member remove ID
       raftlog member demote ID
       raftlog member update ID --address HOST:PORT
  (each with [--config FILE | --endpoints HOST:PORT,...] [--cacert FILE [--cert FILE --key FILE]]
   [--timeout MS])

Shows or changes the membership of a running cluster. Membership lives in the cluster's log:
after the first start the configuration file only tells clients where to look. A change is made
by the leader with joint consensus (the old and the new voters must both agree while it is
carried out), one change at a time, and answered once it is committed.

  list       every member: id, address, voter or learner, and how far behind the leader it is
  add        add node ID, serving at ADDRESS (host:port), to vote: it enters as a learner (it
             gets the log but does not vote) and the leader makes it a voter once it runs and
             has caught up, so a node added before its machine starts never counts; with
             --learner it stays a learner until you promote it
  promote    make learner ID a voter; refused while it is more than 1,000 entries behind
  remove     remove member ID (a removed leader hands leadership over first, then steps down)
  demote     make voter ID a learner: it keeps getting the log but no longer votes or counts
             (a demoted leader hands leadership over first); promote makes it a voter again
  update     tell the cluster member ID now serves at --address HOST:PORT: the members send to
             it there from the change on; stop the node first, then restart it at the new
             address (raftlog node -n ID --listen HOST:PORT, or its new port in the file)

Refused: an id that was removed before (ids are never reused: give the machine a new one), and
a change after which the voters the leader heard from lately would not be a majority (start the
missing nodes, or remove the dead ones first).

A new node can also ask to be added itself: raftlog node --join ADDRESS (see raftlog node --help).

Options:
  -c, --config FILE        the cluster configuration (default: cluster_config.yaml)
  --endpoints LIST         host:port of some nodes, instead of the configuration
${tlsHelp}
  --timeout MS             how long to wait for the change (default 10000)
  --learner                add: as a learner that stays one until promoted
  --address HOST:PORT      update: the member's new address
  --json                   list: print JSON
  -h, --help               show this help

Examples:
  raftlog node --node-id 4 --listen 127.0.0.1:18004 --join 127.0.0.1:18001   # in another terminal
  raftlog member list
  raftlog member promote 4
  raftlog member remove 1
  raftlog member demote 3
  raftlog member update 2 --address 127.0.0.1:18012

Exit status: 0 done; 1 refused or failed (the message says why); 2 bad usage; 3 the outcome is
unknown (the leader did not answer): look with raftlog member list.`

function nodeIdFrom(text: string | undefined, what: string): number {
  if (text === undefined) throw new UsageError(`member ${what} needs a node id`)
  if (!/^\d+$/.test(text) || Number(text) < 1 || !Number.isSafeInteger(Number(text))) throw new UsageError(`node id must be a whole number from 1, got '${text}'`)
  return Number(text)
}

function addressFrom(text: string | undefined, action = 'add'): string {
  if (text === undefined) throw new UsageError(action === 'add' ? "member add needs the new node's address: raftlog member add ID HOST:PORT" : 'member update needs the new address: raftlog member update ID --address HOST:PORT')
  if (!isHostPort(text)) throw new UsageError(`address must be host:port (e.g. 127.0.0.1:18004), got '${text}'`)
  return text
}

/** `member list`'s table: a header, then a line per member; the MEMBER column as wide as its longest entry ('learner (voter once caught up)'), so STATE stays one column. */
export function memberTable(statuses: readonly NodeStatus[]): string[] {
  const memberWidth = Math.max(16, ...statuses.map((s) => (s.suffrage ?? '?').length))
  return [`${'ID'.padEnd(4)} ${'ADDRESS'.padEnd(22)} ${'MEMBER'.padEnd(memberWidth)} STATE`, ...statuses.map((s) => memberLine(s, memberWidth))]
}

function memberLine(s: NodeStatus, memberWidth: number): string {
  const behind = s.behind === undefined || s.role === 'leader' ? '' : `, ${s.behind} behind`
  const state = s.reachable ? `${s.role}${behind}` : `unreachable (${s.error})`
  return `${String(s.id ?? '?').padEnd(4)} ${s.address.padEnd(22)} ${(s.suffrage ?? '?').padEnd(memberWidth)} ${state}`
}

async function list(client: ClusterClient, timeoutMs: number, json: boolean): Promise<number> {
  const statuses = (await client.statuses(timeoutMs)).filter((s) => s.suffrage !== 'not a member').sort((a, b) => (a.id ?? Infinity) - (b.id ?? Infinity))
  const known = statuses.some((s) => s.suffrage !== undefined)
  if (json) {
    console.log(JSON.stringify(statuses.map(({ id, address, reachable, suffrage, role, behind, error }) => ({ id, address, reachable, suffrage, role, behind, ...(error === undefined ? {} : { error }) })), null, 2))
  } else {
    for (const line of memberTable(statuses)) console.log(line)
    // Nodes that answer as many-group nodes run no membership of one group: say that, not "is it running?".
    const manyGroups = statuses.length > 0 && statuses.every((s) => /runs many Raft groups/.test(s.error ?? ''))
    // "Error: " as every refusal of the CLI begins (the table above stays on stdout).
    if (!known) console.error(`Error: ${manyGroups ? 'The nodes run many Raft groups (cluster_settings.groups): member is for one-group clusters; raftlog group list shows where each group lives' : 'No node answered with its configuration: is the cluster running?'}`)
  }
  return known ? 0 : 1
}

async function change(client: ClusterClient, what: MembershipChange, timeoutMs: number): Promise<number> {
  const config: Configuration = await client.changeMembership(what, timeoutMs)
  console.log(`membership now: ${describeConfiguration(config)}`)
  for (const member of what.updateAddresses ?? []) console.log(`node ${member.id} now at ${config.addresses[member.id] ?? member.address}`)
  return 0
}

export const memberCommand: Command = {
  name: 'member',
  summary: 'List, add, promote, demote, update or remove members of a running cluster',
  help,
  async run(args) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: { config: { type: 'string', short: 'c' }, endpoints: { type: 'string' }, ...tlsOptions, timeout: { type: 'string' }, learner: { type: 'boolean' }, address: { type: 'string' }, json: { type: 'boolean' } },
      strict: true,
    })
    const [action, ...rest] = positionals
    const expected: Record<string, number> = { list: 0, add: 2, promote: 1, remove: 1, demote: 1, update: 1 }
    const actions = 'list, add, promote, demote, update or remove'
    if (action === undefined) throw new UsageError(`member needs an action: ${actions}`)
    if (!(action in expected)) throw new UsageError(`unknown member action '${action}': ${actions}`)
    if (rest.length > (expected[action] as number)) throw new UsageError(`member ${action} takes ${expected[action]} argument${expected[action] === 1 ? '' : 's'}, got ${rest.length}: ${rest.join(' ')}`)
    if (values.learner === true && action !== 'add') throw new UsageError('--learner goes with member add')
    if (values.address !== undefined && action !== 'update') throw new UsageError('--address goes with member update (member add takes the address as its second argument)')
    const timeoutMs = values.timeout === undefined ? 10_000 : timeoutFrom(values.timeout)
    // Checked before connecting: a typo costs no round trip.
    let what: MembershipChange | undefined
    if (action === 'add') {
      const member = { id: nodeIdFrom(rest[0], 'add'), address: addressFrom(rest[1]) }
      what = values.learner === true ? { addLearners: [member] } : { addVoters: [member] }
    } else if (action === 'promote') what = { promote: [nodeIdFrom(rest[0], 'promote')] }
    else if (action === 'remove') what = { remove: [nodeIdFrom(rest[0], 'remove')] }
    else if (action === 'demote') what = { demote: [nodeIdFrom(rest[0], 'demote')] }
    else if (action === 'update') what = { updateAddresses: [{ id: nodeIdFrom(rest[0], 'update'), address: addressFrom(values.address, 'update') }] }
    const client = clientFrom(values, { failFast: true })
    try {
      return what === undefined ? await list(client, timeoutMs, values.json === true) : await change(client, what, timeoutMs)
    } catch (error) {
      return unknownOutcome(error)
    } finally {
      client.close()
    }
  },
}
