import { parseArgs } from 'node:util'
import { UsageError, type Command } from '../command.js'
import { clientFrom, timeoutFrom, tlsHelp, tlsOptions } from '../endpoints.js'
import { unknownOutcome } from '../unknown-outcome.js'

const help = `Usage: raftlog transfer-leader [--to ID] [--config FILE | --endpoints HOST:PORT,...]
                               [--cacert FILE [--cert FILE --key FILE]] [--timeout MS]

Hands leadership of a running cluster to voter ID, or without --to to the most up-to-date other
voter (Raft dissertation §3.10): the leader brings it up to date, tells it to stand at once,
and refuses new writes meanwhile (clients retry them at the new leader). Takes about one round
trip, not an election timeout: use it before restarting or taking down the leader's machine.
(raftlog node does it by itself when a leader is stopped with SIGTERM or Ctrl-C.)

Options:
  --to ID                  the voter to hand over to (default: the most up-to-date one)
  -c, --config FILE        the cluster configuration (default: cluster_config.yaml)
  --endpoints LIST         host:port of some nodes, instead of the configuration
${tlsHelp}
  --timeout MS             how long to wait (default 10000)
  -h, --help               show this help

Example:
  raftlog transfer-leader --to 2

Exit status: 0 done (prints the new leader); 1 refused or failed; 2 bad usage; 3 outcome unknown.`

export const transferLeaderCommand: Command = {
  name: 'transfer-leader',
  summary: 'Hand leadership to another voter (before restarting the leader)',
  help,
  async run(args) {
    const { values } = parseArgs({
      args,
      options: { to: { type: 'string' }, config: { type: 'string', short: 'c' }, endpoints: { type: 'string' }, ...tlsOptions, timeout: { type: 'string' } },
      strict: true,
    })
    let to: number | undefined
    if (values.to !== undefined) {
      if (!/^\d+$/.test(values.to) || Number(values.to) < 1) throw new UsageError(`--to must be a node id (a whole number from 1), got '${values.to}'`)
      to = Number(values.to)
    }
    const timeoutMs = values.timeout === undefined ? 10_000 : timeoutFrom(values.timeout)
    const client = clientFrom(values, { failFast: true })
    try {
      const leaderId = await client.transferLeadership(to, timeoutMs)
      console.log(`node ${leaderId} leads now`)
      return 0
    } catch (error) {
      return unknownOutcome(error)
    } finally {
      client.close()
    }
  },
}
