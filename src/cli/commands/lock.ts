import { spawn } from 'node:child_process'
import { parseArgs } from 'node:util'
import { UsageError, type Command } from '../command.js'
import { clientFrom, timeoutFrom, tlsHelp, tlsOptions } from '../endpoints.js'
import { untilStopped } from '../until-stopped.js'
import { wholeFrom } from '../coordination/lease-id.js'

const help = `Usage: raftlog lock NAME [--ttl S] [--timeout MS] [-- COMMAND [ARG...]]
                    [--config FILE | --endpoints HOST:PORT,...] [--cacert FILE [--cert FILE --key FILE]]

Takes the distributed lock NAME (etcd's lock: first come, first served) and holds it: with a
COMMAND, while the command runs (its exit status is lock's); without one, until Ctrl-C. The
lock lives by a lease of --ttl seconds that lock keeps alive: if this process dies, the lock
is free again within the TTL.

Every holder gets a fencing token, larger than every earlier holder's. A paused holder may
lose the lock without knowing it: give the token with each write the lock guards, and have
the storage refuse a token below the largest it has seen. COMMAND finds it in its environment:
  RAFTLOG_FENCING_TOKEN    the token (also ETCD_LOCK_REV, as etcdctl sets it)
  RAFTLOG_LOCK_KEY         the key that holds the lock (also ETCD_LOCK_KEY)
If the lease is lost while COMMAND runs (the cluster unreachable for a whole TTL), lock sends
COMMAND SIGTERM and exits 1.

Options:
  --ttl S                  the lock's lease TTL in seconds (default 10)
  --timeout MS             give up waiting for the lock after this long (default: wait)
  -c, --config FILE        the cluster configuration (default: cluster_config.yaml)
  --endpoints LIST         host:port of some nodes, instead of the configuration
${tlsHelp}
  -h, --help               show this help

Examples:
  raftlog lock backups -- ./run-backup.sh
  raftlog lock migrations            (prints the key and token, holds until Ctrl-C)

Exit status: COMMAND's; without one 0; 1 the lock was lost or could not be taken; 2 bad usage.`

export const lockCommand: Command = {
  name: 'lock',
  summary: 'Hold a distributed lock while a command runs, with its fencing token',
  help,
  async run(args) {
    const split = args.indexOf('--')
    const own = split === -1 ? args : args.slice(0, split)
    const command = split === -1 ? [] : args.slice(split + 1)
    const { values, positionals } = parseArgs({
      args: own,
      options: { ttl: { type: 'string' }, timeout: { type: 'string' }, config: { type: 'string', short: 'c' }, endpoints: { type: 'string' }, ...tlsOptions },
      allowPositionals: true,
      strict: true,
    })
    if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'Missing the lock NAME' : `lock takes one NAME (put the command after --), got: ${positionals.join(' ')}`)
    if (split !== -1 && command.length === 0) throw new UsageError('Nothing after --: give the command to run while holding the lock')
    const ttlSeconds = values.ttl === undefined ? 10 : wholeFrom(values.ttl, '--ttl')
    const timeoutMs = values.timeout === undefined ? undefined : timeoutFrom(values.timeout)
    const client = clientFrom(values)
    const stopped = new AbortController()
    const waiting = new AbortController()
    void untilStopped(stopped.signal).then(() => waiting.abort())
    try {
      const held = await client.lock(positionals[0] as string, { ttlSeconds, signal: waiting.signal, ...(timeoutMs === undefined ? {} : { timeoutMs }) })
      try {
        if (command.length === 0) {
          console.log(held.key.toString())
          console.log(`fencing token ${held.fencingToken}`)
          const lost = new Promise<Error>((resolve) => held.lease.onLost(resolve))
          const outcome = await Promise.race([untilStopped(stopped.signal), lost])
          if (outcome instanceof Error) {
            console.error(`Error: the lock was lost: ${outcome.message}`)
            return 1
          }
          return 0
        }
        return await runHolding(command, { RAFTLOG_FENCING_TOKEN: String(held.fencingToken), ETCD_LOCK_REV: String(held.fencingToken), RAFTLOG_LOCK_KEY: held.key.toString(), ETCD_LOCK_KEY: held.key.toString() }, held.lease)
      } finally {
        await held.unlock().catch(() => held.lease.close())
      }
    } finally {
      stopped.abort()
      client.close()
    }
  },
}

/** Runs `command` with `env` added; sends it SIGTERM if the lease is lost. Resolves with its exit status. */
function runHolding(command: string[], env: Record<string, string>, lease: { onLost(listener: (error: Error) => void): () => void }): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(command[0] as string, command.slice(1), { stdio: 'inherit', env: { ...process.env, ...env } })
    let lost = false
    const stop = lease.onLost((error) => {
      lost = true
      console.error(`Error: the lock was lost (${error.message}): stopping ${command[0]}`)
      child.kill('SIGTERM')
    })
    child.on('error', (error) => {
      stop()
      reject(new UsageError(`Cannot run ${command[0]}: ${error.message}`))
    })
    child.on('exit', (code, signal) => {
      stop()
      resolve(lost ? 1 : (code ?? (signal === null ? 1 : 128 + 15)))
    })
  })
}
