import { parseArgs } from 'node:util'
import { UsageError, type Command } from '../command.js'
import { clientFrom, tlsHelp, tlsOptions } from '../endpoints.js'
import { untilStopped } from '../until-stopped.js'
import { wholeFrom } from '../coordination/lease-id.js'

const help = `Usage: raftlog elect NAME PROPOSAL [--ttl S] | elect NAME --listen
                     [--config FILE | --endpoints HOST:PORT,...] [--cacert FILE [--cert FILE --key FILE]]

Elections, as etcd's (etcdctl elect). With a PROPOSAL, campaigns in election NAME and waits
until it leads, prints its leader key, PROPOSAL and its fencing token, and leads until Ctrl-C
(then resigns). The leadership lives by a lease of --ttl seconds that elect keeps alive: if this
process dies, another campaigner leads within the TTL. With --listen, prints the value of each
leader in turn, the current one first, until Ctrl-C.

Options:
  --ttl S                  the campaign's lease TTL in seconds (default 10)
  -l, --listen             observe the election instead of campaigning
  -c, --config FILE        the cluster configuration (default: cluster_config.yaml)
  --endpoints LIST         host:port of some nodes, instead of the configuration
${tlsHelp}
  -h, --help               show this help

Examples:
  raftlog elect scheduler "$(hostname)"
  raftlog elect scheduler --listen

Exit status: 0 stopped with Ctrl-C; 1 the leadership was lost, or the call failed; 2 bad usage.`

export const electCommand: Command = {
  name: 'elect',
  summary: 'Campaign in an election, or watch who leads it (etcd\'s elections)',
  help,
  async run(args) {
    const { values, positionals } = parseArgs({
      args,
      options: { ttl: { type: 'string' }, listen: { type: 'boolean', short: 'l' }, config: { type: 'string', short: 'c' }, endpoints: { type: 'string' }, ...tlsOptions },
      allowPositionals: true,
      strict: true,
    })
    const listen = values.listen === true
    if (positionals.length !== (listen ? 1 : 2)) throw new UsageError(listen ? 'elect --listen takes the election NAME alone' : 'elect takes the election NAME and a PROPOSAL (or --listen)')
    const name = positionals[0] as string
    const client = clientFrom(values)
    const stopped = new AbortController()
    try {
      if (listen) {
        const leaders = client.observeElection(name)
        void untilStopped(stopped.signal).then(() => leaders.close())
        for await (const leader of leaders) {
          console.log(leader.key.toString())
          console.log(leader.value.toString())
        }
        return 0
      }
      const waiting = new AbortController()
      void untilStopped(stopped.signal).then(() => waiting.abort())
      const leadership = await client.campaign(name, positionals[1] as string, { ttlSeconds: values.ttl === undefined ? 10 : wholeFrom(values.ttl, '--ttl'), signal: waiting.signal })
      console.log(leadership.key.toString())
      console.log(positionals[1])
      console.log(`fencing token ${leadership.fencingToken}`)
      const lost = new Promise<Error>((resolve) => leadership.lease.onLost(resolve))
      const outcome = await Promise.race([untilStopped(stopped.signal), lost])
      if (outcome instanceof Error) {
        console.error(`Error: the leadership was lost: ${outcome.message}`)
        return 1
      }
      await leadership.resign()
      return 0
    } finally {
      stopped.abort()
      client.close()
    }
  },
}
