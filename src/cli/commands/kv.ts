import { parseArgs } from 'node:util'
import { UsageError, type Command } from '../command.js'
import { clientFrom, timeoutFrom, tlsHelp, tlsOptions } from '../endpoints.js'
import { runsManyGroups, shardedClientFor } from '../many-groups.js'
import { hostCredentials } from '../host-admin.js'
import type { ShardedKvClient } from '../../kv/sharded/sharded-kv-client.js'
import { loadClusterConfig } from '../../net/config/cluster-config.js'
import { decodeKvResult, encodeKvCommand, type KeyedKvCommand, type KvCommand } from '../../kv/kv-state-machine.js'
import { encodeKvQuery } from '../../kv/kv-query.js'
import type { RaftLogError } from '../../errors.js'
import type { ClusterClient } from '../../net/client/cluster-client.js'
import type { KvClient } from '../../kv/kv-client.js'
import { leaseIdFrom } from '../coordination/lease-id.js'
import { maxLoadFileBytes, readBytes, readText } from '../kv/value-source.js'
import { bytesFrom, describeBytes, encodingFrom, kvEncodings, outputOf, textOf, type KvEncoding } from '../kv/encoding.js'
import { scanPairs } from '../kv/scan.js'
import { parseLoadFile, type LoadPair } from '../kv/load-file.js'
import { defaultInFlight, loadPairs, maxInFlight, maxPutsPerBatch } from '../kv/load.js'
import { progressOn } from '../kv/progress.js'
import { plural } from '../plural.js'
import { untilStopped } from '../until-stopped.js'
import { delFlagOptions, getFlagOptions, getFlagsHelp, hasGetFlags } from '../kv/range-flags.js'
import { runDel, runRangeGet } from '../kv/range-commands.js'

/** Exit status when a mutation may or may not have been applied. */
import { unknownOutcomeStatus } from '../unknown-outcome.js'

const help = `Usage: raftlog kv put KEY VALUE [--lease ID] | put KEY --file FILE | put KEY -
                  | get KEY [RANGE_END] [--prefix | --from-key] [--rev N] [--limit N]
                        [--keys-only] [--count-only] [--sort-by T] [--order O]
                  | del KEY [RANGE_END] [--prefix | --from-key] [--prev-kv]
                  | delete KEY | cas KEY EXPECTED NEW | cas KEY --absent NEW
                  | scan [PREFIX] [--limit N] | load FILE [--in-flight N]
                  [--config FILE | --endpoints HOST:PORT,...] [--cacert FILE [--cert FILE --key FILE]]
                  [--encoding utf8|hex|base64] [--timeout MS] [--json]

Reads and writes the cluster's key-value store. The client finds the leader itself (it follows
"not the leader" answers). A put, delete or cas goes through the Raft log in a client session:
after a timeout or a lost connection the client sends the same command again, and the cluster
applies it once. A get or a scan writes nothing to the log: any node answers it after confirming
with the leader that it holds every write acknowledged before (ReadIndex), so reads are
linearizable. When no node answers, or fewer than a majority and none knows a leader, kv says
so at once instead of waiting for --timeout. Keys and values are bytes: --encoding says how the
text of arguments, load files and output stands for them.

  put KEY VALUE            set KEY
  put KEY VALUE --lease ID set KEY, attached to lease ID (hexadecimal, as raftlog lease grant
                           prints it): it is deleted when the lease expires or is revoked
  put KEY --file FILE      set KEY to the bytes of FILE, exactly (final newline included); the
                           whole command at most the cluster's max_request_bytes (1.5 MiB by default)
  put KEY -                set KEY to the bytes standard input holds (\`put KEY -- -\` stores "-")
  get KEY                  print KEY's value (exit 1 if absent)
  get KEY --rev N          print the value KEY held at revision N (every write is the next
                           revision: etcd's data model); --keys-only prints the key,
                           --count-only 1 or 0 (exit 0)
  get KEY RANGE_END        print every key in [KEY, RANGE_END) and its value, in byte order, each
                           on a line of its own, as etcdctl prints them (exit 0, even for none);
                           --prefix: every key starting with KEY; --from-key: every key from KEY
                           up; with --limit, --keys-only, --count-only, --sort-by, --order, --rev.
                           One linearizable read (any node, after a ReadIndex): one revision
  del KEY                  delete KEY and print how many keys were deleted (1 or 0), as etcdctl;
                           with RANGE_END, --prefix or --from-key every key of the range, in one
                           log entry (one revision); --prev-kv also prints each deleted key and
                           its value
  delete KEY               remove KEY (prints OK, or "(absent) KEY")
  cas KEY EXPECTED NEW     set KEY to NEW only if it holds EXPECTED (exit 1 if not)
  cas KEY --absent NEW     set KEY to NEW only if it is absent
  scan [PREFIX]            print every key starting with PREFIX (all keys without one) and its
                           value, in key (byte) order, as KEY<TAB>VALUE lines (--json: JSON lines, as
                           load reads them; use it when keys or values may hold tabs or newlines);
                           read up to 10,000 keys (4 MiB) at a time, each read linearizable on its
                           own, so a scan of many pages is not one snapshot
  load FILE                put every pair of FILE ('-': standard input): JSON lines
                           {"key": "...", "value": "..."} or KEY<TAB>VALUE lines, mixed as you like;
                           a key given twice gets its last value. Through one client, in batches
                           of up to ${maxPutsPerBatch} puts (one log entry each, applied together), many
                           batches in flight; a progress bar on a terminal, a count every second
                           otherwise. Stops at the first failed batch and says how many keys were
                           written

Options:
  -c, --config FILE        the cluster configuration (default: cluster_config.yaml)
  --endpoints LIST         host:port of every node, instead of the configuration
${tlsHelp}
  --timeout MS             give up on an operation after this long without a leader (default 5000)
  --file FILE              put: read the value from FILE
  --absent                 cas: set only if the key is absent
${getFlagsHelp}
  --prev-kv                del: print the deleted keys and their values after the count
  --encoding E             how keys and values are written as text: ${kvEncodings.join(', ')}
                           (default utf8). utf8: arguments and load files are UTF-8 text (an
                           argument that is not, which the system hands over with U+FFFD in it,
                           is refused), output is the bytes as they are, and --json refuses a key
                           or value that is not UTF-8; hex or base64: every key, prefix, value and
                           expected value, in arguments, load files and output, is spelled in it
  --in-flight N            load: batches sent at once, 1 to ${maxInFlight} (default ${defaultInFlight})
  --json                   print results as JSON; a get with any of the flags above prints
                           {"revision", "count", "more", "kvs": [{"key", "value", "createRevision",
                           "modRevision", "version"}]}, a del {"revision", "deleted", "prevKvs"}
  -h, --help               show this help

Exit status: 0 done; 1 a get of an absent key (not of a range), a failed cas, or an error
(ERR_COMPACTED: --rev is below the oldest revision kept; ERR_FUTURE_REVISION: past the newest;
both name it); 2 bad usage; 3 the outcome of a put, delete, del or cas (or of a batch of load)
is unknown: it may have been applied, and no leader answered again before --timeout (check
with a get before trying again).

The store keeps the history of at least its last 1,000 revisions; \`raftlog compact REV\`
forgets what is older than REV. \`raftlog txn\` runs etcdctl's transactions.

Examples:
  raftlog kv put greeting hello
  raftlog kv put config --file settings.json
  raftlog kv get greeting --json
  raftlog kv get greeting --rev 4
  raftlog kv get app/ --prefix --keys-only
  raftlog kv get app/ --prefix --sort-by MODIFY --order DESCEND --limit 3
  raftlog kv del app/ --prefix --prev-kv
  raftlog kv scan user/ --limit 10
  raftlog kv put --encoding hex ff00 0a0b
  raftlog kv scan --json > backup.jsonl && raftlog kv load backup.jsonl
  raftlog kv scan --json --encoding base64 > backup.jsonl && raftlog kv load backup.jsonl --encoding base64`

type Values = {
  config?: string | undefined
  endpoints?: string | undefined
  timeout?: string | undefined
  json?: boolean | undefined
  absent?: boolean | undefined
  file?: string | undefined
  limit?: string | undefined
  'in-flight'?: string | undefined
  encoding?: string | undefined
  prefix?: boolean | undefined
  'from-key'?: boolean | undefined
  rev?: string | undefined
  'keys-only'?: boolean | undefined
  'count-only'?: boolean | undefined
  'sort-by'?: string | undefined
  order?: string | undefined
  'prev-kv'?: boolean | undefined
  lease?: string | undefined
}

/** A command on one key (what put, get, delete and cas send), and its key as typed, for messages. */
type SingleKvCommand = KeyedKvCommand & { keyText: string }

/** Options that belong to one operation only: given with another, they are a mistake worth saying. */
const optionOwners: Record<string, string[]> = {
  absent: ['cas'],
  file: ['put'],
  lease: ['put'],
  limit: ['scan', 'get'],
  'in-flight': ['load'],
  prefix: ['get', 'del'],
  'from-key': ['get', 'del'],
  rev: ['get'],
  'keys-only': ['get'],
  'count-only': ['get'],
  'sort-by': ['get'],
  order: ['get'],
  'prev-kv': ['del'],
}

function wholeNumber(flag: string, text: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) throw new UsageError(`${flag} must be a whole number from ${min}${max === Number.MAX_SAFE_INTEGER ? '' : ` to ${max}`}, got '${text}'`)
  return Number(text)
}

/** A single-key command; `stdinDash` says whether a put's '-' means standard input (it came before any `--`). */
async function parseCommand(words: string[], values: Values, stdinDash: boolean, encoding: KvEncoding): Promise<SingleKvCommand> {
  const [op, keyText, ...rest] = words
  if (!['put', 'get', 'delete', 'cas'].includes(op as string)) throw new UsageError(`unknown kv command '${op}' (put, get, del, delete, cas, scan or load)`)
  if (keyText === undefined) throw new UsageError(`kv ${op} needs a KEY`)
  const expect = (count: number, shape: string): void => {
    if (rest.length !== count) throw new UsageError(`usage: raftlog kv ${shape}`)
  }
  const key = bytesFrom(keyText, encoding, 'KEY')
  // An empty key is refused by etcd's API (and so by `kv del`, etcdctl and every range): one
  // written here could be read and deleted only by these single-key verbs.
  if (key.length === 0 && (op === 'put' || op === 'cas')) throw new UsageError(`kv ${op}: the KEY is empty (etcd's API refuses an empty key too)`)
  const bytes = (text: string, what: string): Buffer => bytesFrom(text, encoding, what)
  switch (op) {
    case 'put':
      if (values.file !== undefined) {
        expect(0, 'put KEY --file FILE (a value or --file, not both)')
        return { op, key, keyText, value: await readBytes(values.file) }
      }
      expect(1, 'put KEY VALUE | put KEY --file FILE | put KEY -')
      return { op, key, keyText, value: rest[0] === '-' && stdinDash ? await readBytes('-') : bytes(rest[0] as string, 'VALUE') }
    case 'get':
      expect(0, 'get KEY')
      return { op, key, keyText }
    case 'delete':
      expect(0, 'delete KEY')
      return { op, key, keyText }
    case 'cas':
      if (values.absent === true) {
        expect(1, 'cas KEY --absent NEW')
        return { op, key, keyText, expected: null, value: bytes(rest[0] as string, 'NEW') }
      }
      expect(2, 'cas KEY EXPECTED NEW')
      return { op, key, keyText, expected: bytes(rest[0] as string, 'EXPECTED'), value: bytes(rest[1] as string, 'NEW') }
    default:
      throw new UsageError(`unknown kv command '${op}' (put, get, del, delete, cas, scan or load)`)
  }
}

/** Bytes in a message: in the chosen encoding, or for utf8 quoted text (hex:… when not UTF-8). */
function shown(bytes: Uint8Array, encoding: KvEncoding): string {
  return encoding === 'utf8' ? describeBytes(bytes) : Buffer.from(bytes).toString(encoding)
}

async function runSingle(client: KvClient, command: SingleKvCommand, values: Values, encoding: KvEncoding, sharded?: ShardedKvClient): Promise<number> {
  const timeout = timeoutFrom(values.timeout)
  const { keyText, ...sent } = command
  let reply: Uint8Array
  try {
    if (sharded !== undefined) {
      // A many-group cluster: the command goes to the group that owns the key (no client session there).
      if (values.lease !== undefined) throw new UsageError('--lease is for one-group clusters: a many-group cluster has no leases')
      reply = command.op === 'get' ? await sharded.readFor(command.key, encodeKvQuery({ op: 'get', key: command.key })) : await sharded.proposeFor(command.key, encodeKvCommand(sent as KvCommand))
    } else {
    if (command.op === 'put' && values.lease !== undefined) {
      // A put with a lease is etcd's: a transaction's put, in the client's session all the same.
      await client.txn({ success: [{ put: { key: command.key, value: command.value, lease: leaseIdFrom(values.lease, '--lease') } }] }, timeout)
      console.log(values.json === true ? JSON.stringify({ op: 'put', key: keyText, ok: true }) : 'OK')
      return 0
    }
    reply = command.op === 'get' ? await client.read(encodeKvQuery({ op: 'get', key: command.key }), timeout) : await client.propose(encodeKvCommand(sent as KvCommand), timeout)
    }
  } catch (error) {
    if ((error as RaftLogError).code !== 'ERR_UNKNOWN_OUTCOME') throw error
    console.error(`Error: ${command.op} ${JSON.stringify(keyText)}: ${(error as Error).message}`)
    return unknownOutcomeStatus
  }
  const result = decodeKvResult(reply)
  if (values.json === true) {
    const value = result.value === undefined || result.value === null ? result.value : textOf(result.value, encoding, `The value of ${shown(command.key, encoding)}`)
    console.log(JSON.stringify({ op: command.op, key: keyText, ok: result.ok, ...(value === undefined ? {} : { value }) }))
  } else if (command.op === 'get') {
    if (result.value === null || result.value === undefined) console.error(`(absent) ${keyText}`)
    else process.stdout.write(Buffer.concat([outputOf(result.value, encoding), Buffer.from('\n')]))
  } else if (command.op === 'cas') {
    console.log(result.ok ? 'OK' : `FAILED: ${keyText} holds ${result.value === null || result.value === undefined ? 'nothing' : shown(result.value, encoding)}`)
  } else {
    console.log(command.op === 'delete' && !result.ok ? `(absent) ${keyText}` : 'OK')
  }
  const failed = (command.op === 'get' && result.value === null) || (command.op === 'cas' && !result.ok)
  return failed ? 1 : 0
}

async function runScan(client: ClusterClient, words: string[], values: Values, encoding: KvEncoding): Promise<number> {
  if (words.length > 2) throw new UsageError('usage: raftlog kv scan [PREFIX] [--limit N]')
  const limit = values.limit === undefined ? Number.MAX_SAFE_INTEGER : wholeNumber('--limit', values.limit, 1)
  const prefix = bytesFrom(words[1] ?? '', encoding, 'PREFIX')
  const lines: Buffer[] = []
  const newline = Buffer.from('\n')
  const tab = Buffer.from('\t')
  // Written a page at a time: a scan of the whole store never sits in memory as one string.
  const flush = (): void => {
    if (lines.length > 0) process.stdout.write(Buffer.concat(lines.splice(0)))
  }
  await scanPairs(client, prefix, limit, timeoutFrom(values.timeout), (key, value) => {
    if (values.json === true) {
      const json = { key: textOf(key, encoding, 'Key'), value: textOf(value, encoding, `The value of ${shown(key, encoding)}`) }
      lines.push(Buffer.from(`${JSON.stringify(json)}\n`))
    } else {
      lines.push(outputOf(key, encoding), tab, outputOf(value, encoding), newline)
    }
    if (lines.length >= 4000) flush()
  })
  flush()
  return 0
}

async function runLoad(client: ClusterClient, words: string[], values: Values, encoding: KvEncoding): Promise<number> {
  const source = words[1]
  if (source === undefined || words.length > 2) throw new UsageError('usage: raftlog kv load FILE (JSON lines or KEY<TAB>VALUE lines)')
  const inFlight = values['in-flight'] === undefined ? defaultInFlight : wholeNumber('--in-flight', values['in-flight'], 1, maxInFlight)
  const name = source === '-' ? 'standard input' : source
  const { pairs, duplicates } = parseLoadFile(await readText(source, maxLoadFileBytes), name, encoding)
  const started = Date.now()
  const progress = progressOn(process.stderr, pairs.length, 'kv load')
  let written = 0
  const loading = loadPairs(client, pairs, {
    inFlight,
    timeoutMs: timeoutFrom(values.timeout),
    onProgress: (count) => progress.update((written = count)),
  })
  const finished = new AbortController()
  let outcome: Awaited<ReturnType<typeof loadPairs>> | 'SIGINT' | 'SIGTERM'
  try {
    outcome = await Promise.race([loading, untilStopped(finished.signal)])
  } finally {
    finished.abort()
    // Shows the cursor and turns line wrap back on, also when stopped by Ctrl-C.
    progress.stop()
  }
  if (outcome === 'SIGINT' || outcome === 'SIGTERM') {
    // Batches still in flight may commit or not: only the acknowledged count is known.
    console.error(`kv load stopped (${outcome}): ${written} of ${plural(pairs.length, 'key')} written (acknowledged by the cluster); keys sent after those may or may not have been written`)
    // At once: calls in flight would otherwise keep the process until --timeout.
    process.exit(128 + (outcome === 'SIGINT' ? 2 : 15))
  }
  const seconds = (Date.now() - started) / 1000
  const overwritten = duplicates === 0 ? '' : ` (${plural(duplicates, 'line')} overwritten by a later one for the same key)`
  if (outcome.failure !== undefined) {
    const { batch, error } = outcome.failure
    const first = batch[0] as LoadPair
    console.error(`Error: ${name}: the batch of ${plural(batch.length, 'key')} from line ${first.line} (key ${shown(first.key, encoding)}) failed: ${error.message}; ${outcome.written} of ${plural(pairs.length, 'key')} written`)
    return error.code === 'ERR_UNKNOWN_OUTCOME' ? unknownOutcomeStatus : 1
  }
  const rate = seconds > 0 ? `, ${Math.round(outcome.written / seconds)} keys/s` : ''
  if (values.json === true) console.log(JSON.stringify({ op: 'load', keys: outcome.written, duplicates, seconds }))
  else console.log(`loaded ${plural(outcome.written, 'key')} in ${seconds.toFixed(1)} s${rate}${overwritten}`)
  return 0
}

export const kvCommand: Command = {
  name: 'kv',
  summary: 'Put, get (keys, ranges, past revisions), delete, compare-and-set, scan or bulk-load keys in a running cluster',
  help,
  async run(args) {
    const { values, positionals, tokens } = parseArgs({
      args,
      options: {
        config: { type: 'string', short: 'c' },
        endpoints: { type: 'string' },
        timeout: { type: 'string' },
        json: { type: 'boolean' },
        absent: { type: 'boolean' },
        file: { type: 'string' },
        'in-flight': { type: 'string' },
        encoding: { type: 'string' },
        lease: { type: 'string' },
        ...getFlagOptions,
        ...delFlagOptions,
        ...tlsOptions,
      },
      allowPositionals: true,
      strict: true,
      tokens: true,
    })
    const op = positionals[0]
    if (op === undefined) throw new UsageError('kv needs a command: put, get, del, delete, cas, scan or load')
    for (const [option, owners] of Object.entries(optionOwners)) {
      if (values[option as keyof typeof values] !== undefined && !owners.includes(op)) throw new UsageError(`--${option} goes with kv ${owners.join(' or kv ')} only`)
    }
    // etcdctl's get (a range, a revision, …) and del: through the store's etcd operations.
    const etcdStyle = op === 'del' || (op === 'get' && (hasGetFlags(values) || positionals.length > 2))
    // `put KEY -` reads standard input; after `--`, '-' is the value itself.
    const terminator = tokens.find((token) => token.kind === 'option-terminator')?.index ?? Number.POSITIVE_INFINITY
    const valueToken = tokens.filter((token) => token.kind === 'positional')[2]
    const stdinDash = valueToken !== undefined && valueToken.index < terminator
    const encoding = encodingFrom(values.encoding)
    const single = op === 'scan' || op === 'load' || etcdStyle ? undefined : await parseCommand(positionals, values, stdinDash, encoding)
    // put, get, delete and cas also reach a many-group cluster's sharded store (found through the configuration).
    const cluster = single !== undefined && values.endpoints === undefined ? loadClusterConfig(values.config ?? 'cluster_config.yaml') : undefined
    const credentials = cluster === undefined ? undefined : hostCredentials(cluster, values)
    const sharded = cluster !== undefined && credentials !== undefined && (await runsManyGroups(cluster, credentials)) ? await shardedClientFor(cluster, timeoutFrom(values.timeout), credentials) : undefined
    const client = clientFrom(values, { failFast: true })
    try {
      if (sharded !== undefined) return await runSingle(client, single as SingleKvCommand, values, encoding, sharded).finally(() => sharded.close())
      if (op === 'del') return await runDel(client, positionals, values, encoding)
      if (etcdStyle) return await runRangeGet(client, positionals, values, encoding)
      if (op === 'scan') return await runScan(client, positionals, values, encoding)
      if (op === 'load') return await runLoad(client, positionals, values, encoding)
      return await runSingle(client, single as SingleKvCommand, values, encoding)
    } finally {
      client.close()
    }
  },
}
