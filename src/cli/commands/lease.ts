import { parseArgs } from 'node:util'
import { UsageError, type Command } from '../command.js'
import { clientFrom, timeoutFrom, tlsHelp, tlsOptions } from '../endpoints.js'
import { untilStopped } from '../until-stopped.js'
import { leaseIdFrom, leaseIdText, wholeFrom } from '../coordination/lease-id.js'

const help = `Usage: raftlog lease grant TTL | keep-alive ID [--once] | revoke ID | ttl ID [--keys] | list
                     [--config FILE | --endpoints HOST:PORT,...] [--cacert FILE [--cert FILE --key FILE]]
                     [--timeout MS]

Leases, as etcd's (and etcdctl's lease commands): a lease lives for its TTL unless kept alive;
keys put with it (raftlog kv put KEY VALUE --lease ID) are deleted together, at one revision,
when it expires or is revoked. Expiry is the leader's to decide and goes through the log, so
every node deletes them alike; after a change of leader every lease gets its whole TTL again.
Lease ids are hexadecimal, as etcdctl prints them.

  grant TTL            grant a lease of TTL seconds (raised to the cluster's minimum, 1.5
                       election timeouts), print its id
  keep-alive ID        keep lease ID alive until Ctrl-C, printing each renewal; with --once,
                       renew it once. Exits 1 when the lease is gone (expired or revoked)
  revoke ID            end lease ID now, deleting its keys. Exits 1 when it is already gone
  ttl ID [--keys]      the seconds lease ID has left and its granted TTL (and its keys). Exits
                       1 when it is gone ('already expired' on standard error; etcdctl prints
                       that and exits 0), so a script can test for the lease
  list                 every lease's id

Options:
  -c, --config FILE        the cluster configuration (default: cluster_config.yaml)
  --endpoints LIST         host:port of some nodes, instead of the configuration
${tlsHelp}
  --timeout MS             give up on a call after this long (default 5000)
  -h, --help               show this help

Examples:
  raftlog lease grant 30
  raftlog kv put service/a 10.0.0.1 --lease 694d71ddacfda227
  raftlog lease keep-alive 694d71ddacfda227

Exit status: 0 done; 1 refused (no such lease) or failed; 2 bad usage.`

export const leaseCommand: Command = {
  name: 'lease',
  summary: 'Grant, keep alive, revoke and list leases (etcd\'s)',
  help,
  async run(args) {
    const { values, positionals } = parseArgs({
      args,
      options: { config: { type: 'string', short: 'c' }, endpoints: { type: 'string' }, ...tlsOptions, timeout: { type: 'string' }, keys: { type: 'boolean' }, once: { type: 'boolean' } },
      allowPositionals: true,
      strict: true,
    })
    const [verb, argument, ...rest] = positionals
    if (rest.length > 0) throw new UsageError(`Unexpected arguments: ${rest.join(' ')}`)
    const timeoutMs = timeoutFrom(values.timeout)
    const needs = (count: number): void => {
      if ((argument === undefined ? 0 : 1) !== count) throw new UsageError(`lease ${verb} takes ${count === 0 ? 'no argument' : 'one argument'}`)
    }
    switch (verb) {
      case 'grant':
      case 'keep-alive':
      case 'revoke':
      case 'ttl':
        needs(1)
        break
      case 'list':
        needs(0)
        break
      default:
        throw new UsageError(verb === undefined ? 'Missing the lease command: grant, keep-alive, revoke, ttl or list' : `Unknown lease command '${verb}': grant, keep-alive, revoke, ttl or list`)
    }
    const client = clientFrom(values)
    try {
      if (verb === 'grant') {
        const lease = await client.grantLease(wholeFrom(argument, 'The TTL (seconds)'), { keepAlive: false, timeoutMs })
        console.log(`lease ${leaseIdText(lease.id)} granted with TTL(${lease.ttlSeconds}s)`)
      } else if (verb === 'revoke') {
        const id = leaseIdFrom(argument)
        await client.revokeLease(id, timeoutMs)
        console.log(`lease ${leaseIdText(id)} revoked`)
      } else if (verb === 'ttl') {
        const id = leaseIdFrom(argument)
        const status = await client.leaseTimeToLive(id, timeoutMs)
        if (status.ttl < 0) {
          console.error(`lease ${leaseIdText(id)} already expired`)
          return 1
        }
        const keys = values.keys === true ? `, attached keys([${status.keys.map((key) => key.toString()).join(' ')}])` : ''
        console.log(`lease ${leaseIdText(id)} granted with TTL(${status.grantedTtl}s), remaining(${status.ttl}s)${keys}`)
      } else if (verb === 'list') {
        const ids = await client.leases(timeoutMs)
        console.log(`found ${ids.length} lease${ids.length === 1 ? '' : 's'}`)
        for (const id of ids) console.log(leaseIdText(id))
      } else return await keepAlive(client, leaseIdFrom(argument), values.once === true, timeoutMs)
      return 0
    } finally {
      client.close()
    }
  },
}

async function keepAlive(client: ReturnType<typeof clientFrom>, id: number, once: boolean, timeoutMs: number): Promise<number> {
  const lease = await client.keepLeaseAlive(id, timeoutMs)
  const stopped = new AbortController()
  const firstRenewal = new Promise<void>((resolve) => {
    lease.onRenewed((ttl) => {
      console.log(`lease ${leaseIdText(id)} keepalived with TTL(${ttl})`)
      resolve()
    })
  })
  const lost = new Promise<Error>((resolve) => lease.onLost(resolve))
  try {
    const outcome = await Promise.race([once ? firstRenewal : untilStopped(stopped.signal), lost])
    if (outcome instanceof Error) {
      console.error(`lease ${leaseIdText(id)} expired or revoked: ${outcome.message}`)
      return 1
    }
    return 0
  } finally {
    stopped.abort()
    lease.close()
  }
}
