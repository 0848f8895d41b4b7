import { parseArgs } from 'node:util'
import { UsageError, type Command } from '../command.js'
import { clientFrom, timeoutFrom, tlsHelp, tlsOptions } from '../endpoints.js'
import { revisionRefusal } from '../kv/range-commands.js'
import { unknownOutcome } from '../unknown-outcome.js'

const help = `Usage: raftlog compact REV [--config FILE | --endpoints HOST:PORT,...]
                     [--cacert FILE [--cert FILE --key FILE]] [--timeout MS] [--json]

Compacts the key-value store's history up to revision REV, as etcdctl compaction does: every
change a read at REV or later does not need is forgotten, on every node (one log entry). A get
--rev below REV answers ERR_COMPACTED afterwards; REV itself stays readable. The store also
compacts by itself, keeping at least its last 1,000 revisions.

Options:
  -c, --config FILE        the cluster configuration (default: cluster_config.yaml)
  --endpoints LIST         host:port of every node, instead of the configuration
${tlsHelp}
  --timeout MS             give up after this long without a leader (default 5000)
  --json                   print {"compacted": REV, "revision": the store's revision}
  -h, --help               show this help

Exit status: 0 compacted (prints "compacted revision REV"); 1 refused: ERR_COMPACTED (the store
is compacted that far already), ERR_FUTURE_REVISION (REV is past the store's revision), each
naming the revisions, or another error; 2 bad usage; 3 the outcome is unknown.

Example:
  raftlog kv get greeting --json     # … "modRevision": 41 …
  raftlog compact 41`

export const compactCommand: Command = {
  name: 'compact',
  summary: "Forget the key-value store's history before a revision (etcdctl compaction)",
  help,
  async run(args) {
    const { values, positionals } = parseArgs({
      args,
      options: { config: { type: 'string', short: 'c' }, endpoints: { type: 'string' }, timeout: { type: 'string' }, json: { type: 'boolean' }, ...tlsOptions },
      allowPositionals: true,
      strict: true,
    })
    const [text, ...extra] = positionals
    if (text === undefined || extra.length > 0) throw new UsageError('usage: raftlog compact REV (one revision)')
    if (!/^\d+$/.test(text) || Number(text) < 1 || !Number.isSafeInteger(Number(text))) throw new UsageError(`REV must be a revision (a whole number from 1), got '${text}'`)
    const client = clientFrom(values, { failFast: true })
    try {
      const answer = await client.compact(Number(text), timeoutFrom(values.timeout)).catch(revisionRefusal)
      console.log(values.json === true ? JSON.stringify(answer) : `compacted revision ${answer.compacted}`)
      return 0
    } catch (error) {
      return unknownOutcome(error)
    } finally {
      client.close()
    }
  },
}
