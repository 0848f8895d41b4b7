import { parseArgs } from 'node:util'
import { type Command } from '../command.js'
import { clientFrom, timeoutFrom, tlsHelp, tlsOptions } from '../endpoints.js'
import { formatBytes } from '../format-bytes.js'
import { untilStopped } from '../until-stopped.js'
import type { ClusterClient, NodeStatus } from '../../net/client/cluster-client.js'
import type { GroupAdmin, HostGroupStatus } from '../../net/client/group-admin.js'
import { adminFrom } from '../host-admin.js'
import { plural } from '../plural.js'

const help = `Usage: raftlog status [--config FILE | --endpoints HOST:PORT,...] [--cacert FILE [--cert FILE --key FILE]]
                     [--timeout MS] [--json] [--watch]

Asks every node of the cluster for its status: role, term, leader, commit index, last applied,
the range of its log and the bytes its directory takes on disk, and as the leader sees it, its
place in the membership (voter, learner) and how many entries it is behind.
For a many-group cluster (raftlog cluster --groups N) it shows instead, per node, how many groups
it holds a replica of, how many it leads, how many are quiet and whether it leads the group
catalog; --json: id, address, reachable, groups, leading, quiet (of every replica, the catalog's
too), catalogLeader (or error).
--watch refreshes these too. Members that are
not in the configuration file (nodes that joined) are found through the others. An unreachable
node is shown as such, with the reason. With --json: an array with one object per node, with
every field the text shows: id, address, reachable, role, suffrage, behind, term, leaderId,
commitIndex, lastApplied, firstIndex, lastIndex, diskBytes, clusterId, diskFull and
diskFullReason (a node whose disk is full: it appends nothing until there is room, and says
since when and why), logBytes and maxLogBytes (the log's bytes and max_log_bytes, 0 for no
ceiling); for an unreachable node id,
address, reachable (false), error (why, in words) and, when the leader's configuration leaves it
out (a node removed but still in the file), suffrage "not a member".

With --watch it asks again every second until Ctrl-C: on a terminal the table is redrawn in
place; otherwise (a pipe, a file) each refresh is printed after the last, under a line with its
time, and with --json each refresh is one line (a JSON array).

Options:
  -c, --config FILE        the cluster configuration (default: cluster_config.yaml)
  --endpoints LIST         host:port of the nodes, instead of the configuration
${tlsHelp}
  --timeout MS             how long to wait for each node (default 2000)
  --json                   print JSON
  --watch                  refresh every second until Ctrl-C
  -h, --help               show this help

Exit status: 0 when a leader is known (of a many-group cluster: a leader of its catalog), 1 otherwise;
with --watch, 0 when stopped.`

const watchIntervalMs = 1000

/** Everything the text line shows, as JSON. */
function statusJson(s: NodeStatus): Record<string, unknown> {
  if (!s.reachable) return { id: s.id, address: s.address, reachable: false, ...(s.suffrage === undefined ? {} : { suffrage: s.suffrage }), error: s.error }
  const { id, address, reachable, role, suffrage, behind, term, leaderId, commitIndex, lastApplied, firstIndex, lastIndex, diskBytes, clusterId, diskFull, diskFullReason, logBytes, maxLogBytes } = s
  return { id, address, reachable, role, suffrage, behind, term, leaderId, commitIndex, lastApplied, firstIndex, lastIndex, diskBytes, clusterId, diskFull, diskFullReason, logBytes, maxLogBytes }
}

function statusLine(s: NodeStatus): string {
  // A node removed from the cluster but still in the file is expected to be gone: not a member.
  if (!s.reachable) return `${s.id === undefined || s.id === null ? '' : `node ${s.id} `}${s.address}: ${s.suffrage === 'not a member' ? 'not a member' : 'unreachable'} (${s.error})`
  const disk = s.diskBytes === undefined ? '' : `, disk ${formatBytes(s.diskBytes)}`
  // Its place in the leader's configuration, and how far it trails the leader's log.
  const member = s.suffrage === undefined ? '' : ` (${s.suffrage}${s.behind === undefined || s.role === 'leader' ? '' : `, ${s.behind} behind`})`
  return `node ${s.id} ${s.address}: ${s.role}${member}, term ${s.term}, leader ${s.leaderId === 0 ? 'unknown' : s.leaderId}, commit ${s.commitIndex}, applied ${s.lastApplied}, log ${s.firstIndex}..${s.lastIndex}${disk}${logCeiling(s)}${diskFull(s)}`
}

/** The log's size against max_log_bytes, when a ceiling is set. */
function logCeiling(s: NodeStatus): string {
  if (s.maxLogBytes === undefined || s.maxLogBytes === 0 || s.logBytes === undefined) return ''
  return `, log ${formatBytes(s.logBytes)} of max ${formatBytes(s.maxLogBytes)}`
}

/** A node paused on a full disk says so, with since when and why. */
function diskFull(s: NodeStatus): string {
  return s.diskFull === true ? `, DISK FULL, writes paused (${s.diskFullReason})` : ''
}

/** One round of answers: the nodes' statuses, or a many-group cluster's per-node counts. */
type Round = { hosts: HostGroupStatus[] } | { statuses: NodeStatus[] }

async function ask(client: ClusterClient, timeoutMs: number, admin?: GroupAdmin): Promise<Round> {
  // Both asked at once: a many-group node answers the second, a one-group node the first.
  const [statuses, hosts] = await Promise.all([client.statuses(timeoutMs), admin?.hostStatuses()])
  return hosts !== undefined && hosts.some((host) => host.reachable) ? { hosts } : { statuses }
}

function roundJson(round: Round): unknown[] {
  return 'hosts' in round ? round.hosts : round.statuses.map(statusJson)
}

function roundLines(round: Round): string[] {
  return 'hosts' in round ? round.hosts.map(hostLine) : round.statuses.map(statusLine)
}

async function printOnce(client: ClusterClient, timeoutMs: number, json: boolean, admin?: GroupAdmin): Promise<number> {
  const round = await ask(client, timeoutMs, admin)
  if (json) console.log(JSON.stringify(roundJson(round), null, 2))
  else for (const line of roundLines(round)) console.log(line)
  if ('hosts' in round) return round.hosts.some((host) => host.catalogLeader === true) ? 0 : 1
  return round.statuses.some((status) => status.reachable && status.role === 'leader') ? 0 : 1
}

/** A node of a many-group cluster: the groups it holds, leads and has quiet. */
function hostLine(h: HostGroupStatus): string {
  if (!h.reachable) return `node ${h.id} ${h.address}: unreachable (${h.error})`
  if (h.waiting === true) return `node ${h.id} ${h.address}: waiting to take part (it started with a new directory and asks whether it ran in this cluster before)`
  // quiet counts every replica here, the catalog's too.
  return `node ${h.id} ${h.address}: ${plural(h.groups ?? 0, 'group')}, leads ${h.leading}, ${h.quiet} of ${(h.groups ?? 0) + 1} replicas quiet (the catalog's counted)${h.catalogLeader === true ? ', leads the group catalog' : ''}`
}

/** Asks every second and shows each answer, until Ctrl-C. */
async function watch(client: ClusterClient, timeoutMs: number, json: boolean, admin?: GroupAdmin): Promise<number> {
  const terminal = process.stdout.isTTY === true
  let stopped = false
  let wake: () => void = () => {}
  void untilStopped().then(() => {
    stopped = true
    wake()
  })
  if (terminal) process.stdout.write('\x1b[2J')
  while (!stopped) {
    const started = Date.now()
    const round = await ask(client, timeoutMs, admin)
    if (stopped) break
    const time = new Date().toISOString()
    if (json && !terminal) console.log(JSON.stringify({ time, nodes: roundJson(round) }))
    else {
      const body = json ? JSON.stringify(roundJson(round), null, 2).split('\n') : roundLines(round)
      if (terminal) {
        // Home, then each line over the old one and the rest of the screen cleared: no flicker.
        const lines = [`raftlog status, every ${watchIntervalMs / 1000} s (Ctrl-C to stop)   ${time}`, '', ...body]
        process.stdout.write(`\x1b[H${lines.map((line) => `${line}\x1b[K`).join('\n')}\n\x1b[J`)
      } else {
        console.log([`--- ${time}`, ...body].join('\n'))
      }
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, watchIntervalMs - (Date.now() - started)))
      wake = () => {
        clearTimeout(timer)
        resolve()
      }
    })
  }
  return 0
}

export const statusCommand: Command = {
  name: 'status',
  summary: 'Show every node of a running cluster: role, term, leader, commit index, log, disk',
  help,
  async run(args) {
    const { values } = parseArgs({
      args,
      options: { config: { type: 'string', short: 'c' }, endpoints: { type: 'string' }, timeout: { type: 'string' }, json: { type: 'boolean' }, watch: { type: 'boolean' }, ...tlsOptions },
      strict: true,
    })
    const client = clientFrom(values)
    const timeoutMs = values.timeout === undefined ? 2000 : timeoutFrom(values.timeout)
    // A many-group cluster's nodes are found by id, through the configuration file.
    const admin = values.endpoints === undefined ? adminFrom(values, timeoutMs) : undefined
    try {
      return values.watch === true ? await watch(client, timeoutMs, values.json === true, admin) : await printOnce(client, timeoutMs, values.json === true, admin)
    } finally {
      client.close()
      admin?.close()
    }
  },
}
