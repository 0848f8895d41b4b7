import { parseArgs } from 'node:util'
import { type Command } from '../command.js'
import { clientFrom, timeoutFrom } from '../endpoints.js'

const help = `Usage: raftlog status [--config FILE | --endpoints HOST:PORT,...] [--timeout MS] [--json]

Asks every node of the cluster for its status: role, term, leader, commit index, last applied.
An unreachable node is shown as such. With --json: an array with one object per node (id,
address, reachable, role, term, leaderId, commitIndex, lastApplied).

Options:
  -c, --config FILE        the cluster configuration (default: cluster_config.yaml)
  --endpoints LIST         host:port of the nodes, instead of the configuration
  --timeout MS             how long to wait for each node (default 2000)
  --json                   print JSON
  -h, --help               show this help

Exit status: 0 when a leader is known, 1 otherwise.`

export const statusCommand: Command = {
  name: 'status',
  summary: 'Show every node of a running cluster: role, term, leader, commit index',
  help,
  async run(args) {
    const { values } = parseArgs({
      args,
      options: { config: { type: 'string', short: 'c' }, endpoints: { type: 'string' }, timeout: { type: 'string' }, json: { type: 'boolean' } },
      strict: true,
    })
    const client = clientFrom(values)
    try {
      const statuses = await client.statuses(values.timeout === undefined ? 2000 : timeoutFrom(values.timeout))
      const leaderKnown = statuses.some((status) => status.reachable && status.role === 'leader')
      if (values.json === true) {
        console.log(JSON.stringify(statuses.map(({ id, address, reachable, role, term, leaderId, commitIndex, lastApplied }) => ({ id, address, reachable, role, term, leaderId, commitIndex, lastApplied })), null, 2))
      } else {
        for (const s of statuses) {
          console.log(
            s.reachable
              ? `node ${s.id} ${s.address}: ${s.role}, term ${s.term}, leader ${s.leaderId === 0 ? 'unknown' : s.leaderId}, commit ${s.commitIndex}, applied ${s.lastApplied}, log ${s.firstIndex}..${s.lastIndex}`
              : `node ${s.id ?? '?'} ${s.address}: unreachable (${s.error})`,
          )
        }
      }
      return leaderKnown ? 0 : 1
    } finally {
      client.close()
    }
  },
}
