import { parseArgs } from 'node:util'
import { createInterface } from 'node:readline'
import { UsageError, type Command } from '../command.js'
import { clientFrom, timeoutFrom, tlsHelp, tlsOptions } from '../endpoints.js'
import { RaftLogError } from '../../errors.js'
import { kvEncodings, encodingFrom } from '../kv/encoding.js'
import { parseTxnText } from '../kv/txn-text.js'
import { txnJson, txnText } from '../kv/etcd-output.js'
import { readText } from '../kv/value-source.js'
import { revisionRefusal } from '../kv/range-commands.js'
import { unknownOutcome } from '../unknown-outcome.js'

/** Largest transaction text read: far more than a node takes in one request (max_request_bytes). */
const maxTxnTextBytes = 16 * 1024 * 1024

const help = `Usage: raftlog txn [--file FILE | -i] [--config FILE | --endpoints HOST:PORT,...]
                 [--cacert FILE [--cert FILE --key FILE]] [--encoding utf8|hex|base64]
                 [--timeout MS] [--json]

Runs a transaction on the cluster's key-value store, written as etcdctl's txn takes it, from
standard input (or --file): the compares, one per line; a blank line; the operations to run
when every compare holds; a blank line; the operations to run otherwise (a blank line or the
end of the text ends them). All of it is one log entry, applied at one revision, all or
nothing; sent in a client session, so a transaction sent again after a timeout is applied
once. A transaction that only reads is served like a get (linearizable, no log entry).

  compares       TARGET("KEY") OP "OPERAND", TARGET one of value (val), version (ver),
                 create (c), mod (m), lease; OP one of =, !=, <, >. value compares the bytes;
                 version is how many puts since the key was created; create and mod are the
                 revisions of the key's creation and last change (a missing key has 0 for each,
                 and fails every value compare); lease is 0 (raftlog serves no leases yet)
  operations     put KEY VALUE [--prev-kv]
                 get KEY [RANGE_END] [--prefix | --from-key] [--rev N] [--limit N]
                     [--keys-only] [--count-only] [--sort-by T] [--order O]
                 del KEY [RANGE_END] [--prefix | --from-key] [--prev-kv]
                 (a word with spaces, or an empty one, in double quotes, with Go's escapes)

Prints SUCCESS when the compares held, FAILURE otherwise, then each operation's answer after
a blank line, as etcdctl does: a put OK (and with --prev-kv the key and value it replaced), a
del how many keys it deleted, a get each key and value on lines of their own.

Options:
  --file FILE              read the transaction from FILE ('-': standard input, the default)
  -i, --interactive        ask for each part (compares, success, failure) on the terminal
  -c, --config FILE        the cluster configuration (default: cluster_config.yaml)
  --endpoints LIST         host:port of every node, instead of the configuration
${tlsHelp}
  --encoding E             how keys and values are written in the text and the output:
                           ${kvEncodings.join(', ')} (default utf8; see raftlog kv --help)
  --timeout MS             give up after this long without a leader (default 5000)
  --json                   print {"succeeded", "revision", "responses": [...]} instead
  -h, --help               show this help

Exit status: 0 the transaction ran (SUCCESS or FAILURE, as etcdctl: look at the first line);
1 refused (a put of the same key twice, ERR_COMPACTED or ERR_FUTURE_REVISION for a get --rev
naming the revision) or an error; 2 bad usage or text that is not a transaction (naming the
line); 3 the outcome is unknown: it may have been applied, and no leader answered again before
--timeout.

Example (the transaction writes only if nobody changed the counter since revision 7):
  raftlog txn <<'EOF'
  mod("counter") = "7"

  put counter 8
  put owner me

  get counter

  EOF`

/** etcdctl's interactive prompts, one per part. */
const prompts = ['compares:', 'success requests (get, put, del):', 'failure requests (get, put, del):']

/** The text of a transaction typed on a terminal, a prompt before each part; a blank line ends a part. */
async function readInteractively(): Promise<string> {
  const lines = createInterface({ input: process.stdin, terminal: false })
  const collected: string[] = []
  let part = 0
  process.stdout.write(`${prompts[0]}\n`)
  for await (const line of lines) {
    collected.push(line)
    if (line.trim() !== '') continue
    part++
    if (part === prompts.length) break
    process.stdout.write(`\n${prompts[part]}\n`)
  }
  lines.close()
  process.stdout.write('\n')
  return `${collected.join('\n')}\n`
}

export const txnCommand: Command = {
  name: 'txn',
  summary: "Run a transaction (compares, then success or failure operations: etcdctl's txn format)",
  help,
  async run(args) {
    const { values, positionals } = parseArgs({
      args,
      options: {
        file: { type: 'string' },
        interactive: { type: 'boolean', short: 'i' },
        config: { type: 'string', short: 'c' },
        endpoints: { type: 'string' },
        timeout: { type: 'string' },
        encoding: { type: 'string' },
        json: { type: 'boolean' },
        ...tlsOptions,
      },
      allowPositionals: true,
      strict: true,
    })
    if (positionals.length > 0) throw new UsageError(`txn reads the transaction from standard input or --file, not from arguments (got '${positionals[0]}')`)
    if (values.interactive === true && values.file !== undefined) throw new UsageError('--interactive and --file do not go together')
    const encoding = encodingFrom(values.encoding)
    const timeoutMs = timeoutFrom(values.timeout)
    const source = values.file ?? '-'
    const name = source === '-' ? 'standard input' : source
    if (values.interactive !== true && source === '-' && process.stdin.isTTY === true) console.error('Reading the transaction from the terminal: compares, a blank line, success operations, a blank line, failure operations; end with Ctrl-D (-i asks for each part)')
    const text = values.interactive === true ? await readInteractively() : await readText(source, maxTxnTextBytes).catch((error: unknown) => {
      // readText's own words speak of load files.
      if (error instanceof RaftLogError && /not UTF-8 text/.test(error.message)) throw new RaftLogError('ERR_BAD_ARGUMENT', `${name} is not UTF-8 text: write keys and values that are not text with --encoding hex or base64`)
      throw error
    })
    const txn = parseTxnText(text, encoding, name)
    if ((txn.compare?.length ?? 0) + (txn.success?.length ?? 0) + (txn.failure?.length ?? 0) === 0) throw new UsageError(`${name} holds no transaction (compares, a blank line, success operations, a blank line, failure operations)`)
    const client = clientFrom(values, { failFast: true })
    try {
      const outcome = await client.txn(txn, timeoutMs).catch(revisionRefusal)
      if (values.json === true) console.log(JSON.stringify(txnJson(outcome, encoding)))
      else process.stdout.write(txnText(outcome, encoding))
      return 0
    } catch (error) {
      return unknownOutcome(error)
    } finally {
      client.close()
    }
  },
}
