import { parseArgs } from 'node:util'
import { UsageError, type Command } from '../command.js'
import { clientFrom, tlsHelp, tlsOptions } from '../endpoints.js'
import { untilStopped } from '../until-stopped.js'
import { bytesFrom, encodingFrom, kvEncodings, outputOf, textOf, type KvEncoding } from '../kv/encoding.js'
import { wholeFrom } from '../coordination/lease-id.js'
import type { WatchEvent } from '../../net/client/cluster-client.js'

const help = `Usage: raftlog watch KEY [--prefix] [--rev N] [--prev-kv] [--json] [--encoding utf8|hex|base64]
                     [--config FILE | --endpoints HOST:PORT,...] [--cacert FILE [--cert FILE --key FILE]]

Prints every change of KEY (or, with --prefix, of every key starting with KEY) as it is
committed, until Ctrl-C: each event once, in revision order, with no gap, also across the
failure of the node it watches through (it moves to another and resumes after the last
revision it printed). With --rev it first replays the changes from revision N on, as long as
the cluster still keeps them (raftlog keeps at least the last 1,000 revisions).

Output, as etcdctl's: PUT or DELETE, the key, and for a put its value, one per line
(--prev-kv adds the value before). --json: one JSON object per event
{"type","key","value","revision","createRevision","version","lease"[,"prevValue"]}.

Options:
  --prefix                 watch every key starting with KEY
  --rev N                  start at revision N (default: the next change)
  --prev-kv                print each key's value before the change
  --json                   one JSON line per event
  --encoding E             how keys and values are printed: ${kvEncodings.join(', ')} (default utf8)
  -c, --config FILE        the cluster configuration (default: cluster_config.yaml)
  --endpoints LIST         host:port of some nodes, instead of the configuration
${tlsHelp}
  -h, --help               show this help

Example:
  raftlog watch --prefix config/

Exit status: 0 stopped with Ctrl-C; 1 the start revision was compacted, or the watch failed; 2 bad usage.`

export const watchCommand: Command = {
  name: 'watch',
  summary: 'Print the changes of a key or prefix as they happen (etcd\'s watch)',
  help,
  async run(args) {
    const { values, positionals } = parseArgs({
      args,
      options: { prefix: { type: 'boolean' }, rev: { type: 'string' }, 'prev-kv': { type: 'boolean' }, json: { type: 'boolean' }, encoding: { type: 'string' }, config: { type: 'string', short: 'c' }, endpoints: { type: 'string' }, ...tlsOptions },
      allowPositionals: true,
      strict: true,
    })
    if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'Missing the KEY to watch' : `watch takes one KEY, got ${positionals.length} arguments`)
    const encoding = encodingFrom(values.encoding)
    const key = bytesFrom(positionals[0] as string, encoding, 'KEY')
    const startRevision = values.rev === undefined ? undefined : wholeFrom(values.rev, '--rev')
    const client = clientFrom(values)
    const stream = client.watch(key, { prefix: values.prefix === true, prevKv: values['prev-kv'] === true, ...(startRevision === undefined ? {} : { startRevision }) })
    const stopped = new AbortController()
    void untilStopped(stopped.signal).then(() => stream.close())
    try {
      for await (const batch of stream) for (const event of batch.events) print(event, values.json === true, values['prev-kv'] === true, encoding)
      return 0
    } finally {
      stopped.abort()
      client.close()
    }
  },
}

function print(event: WatchEvent, json: boolean, withPrevious: boolean, encoding: KvEncoding): void {
  if (json) {
    const prev = event.prevValue === undefined ? {} : { prevValue: textOf(event.prevValue, encoding, 'A previous value') }
    console.log(JSON.stringify({ type: event.type, key: textOf(event.key, encoding, 'A key'), value: textOf(event.value, encoding, 'A value'), revision: event.modRevision, createRevision: event.createRevision, version: event.version, lease: event.lease, ...prev }))
    return
  }
  const lines = [Buffer.from(event.type === 'put' ? 'PUT' : 'DELETE'), outputOf(event.key, encoding)]
  if (withPrevious && event.prevValue !== undefined) lines.push(outputOf(event.prevValue, encoding))
  if (event.type === 'put') lines.push(outputOf(event.value, encoding))
  process.stdout.write(Buffer.concat(lines.flatMap((line) => [line, Buffer.from('\n')])))
}
