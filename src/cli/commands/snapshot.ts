import { parseArgs } from 'node:util'
import { basename, dirname, join, resolve } from 'node:path'
import { UsageError, type Command } from '../command.js'
import { clientFrom, timeoutFrom, tlsHelp, tlsOptions } from '../endpoints.js'
import { formatBytes } from '../format-bytes.js'
import { checkBackupFile, type BackupSummary } from '../../storage/backup-file.js'
import { restoreSnapshot } from '../../raft/node/restore-snapshot.js'
import { describeConfiguration, decodeConfiguration, type Configuration, type Member } from '../../raft/core/configuration.js'
import { loadClusterConfig } from '../../net/config/cluster-config.js'
import { isHostPort } from '../../net/config/host-port.js'
import { keysInBackup } from '../snapshot/keys-in-backup.js'

const help = `Usage: raftlog snapshot save FILE [--config FILE | --endpoints HOST:PORT,...]
                             [--cacert FILE [--cert FILE --key FILE]] [--timeout MS]
       raftlog snapshot status FILE [--json]
       raftlog snapshot restore FILE --node-id ID [--config FILE] [--data-dir DIR]
       raftlog snapshot restore FILE --node-id ID --initial-cluster ID=HOST:PORT,... --data-dir DIR
                             [--cluster-name NAME]

Backup and restore of a cluster's state (as etcdctl snapshot save / status / restore).

  save FILE      asks the leader for a consistent snapshot of its state machine and writes it,
                 with the cluster's id and configuration and a checksum, to FILE. The leader
                 first confirms with a majority that it still leads (ReadIndex), then takes a
                 snapshot at what it has applied: FILE holds every write acknowledged before the
                 save started (later ones may be in it too). The snapshot is streamed in 1 MiB
                 pieces; FILE is written as FILE.tmp (readable by its owner only), synced, checked
                 whole and renamed, so FILE exists only complete. An existing FILE is refused.
  status FILE    checks every checksum of FILE and prints what it holds: index, term, the
                 cluster it came from, its configuration, size, and the number of keys of a
                 key-value store. A damaged file is an error naming the file and byte (exit 1).
  restore FILE   builds the directory of one node of a NEW cluster from FILE: the snapshot is
                 installed as the node's snapshot, under the new cluster's configuration (its
                 voters are the nodes of --config, or of --initial-cluster), and the node starts
                 from it. Run it once per node, with the same FILE and nodes, then start each
                 node (raftlog node -n ID -c FILE). The new cluster has an id of its own: nodes
                 of the old one never mix with it. The directory must be empty or missing.

Options:
  -c, --config FILE        save: the cluster to ask (default: cluster_config.yaml); restore: the
                           NEW cluster's configuration: its nodes become the voters, and the
                           directory is <log_directory>/node_<ID> unless --data-dir says
  --endpoints LIST         save: host:port of the nodes, instead of the configuration
${tlsHelp}
  --timeout MS             save: how long to look for the leader, and the longest wait for the
                           next piece of the snapshot (default 10000)
  --json                   status: print JSON
  -n, --node-id ID         restore: the node whose directory is built
  --data-dir DIR           restore: the directory to build (made 0700 when missing)
  --initial-cluster LIST   restore: the new cluster's voters, ID=HOST:PORT,... (instead of --config)
  --cluster-name NAME      restore with --initial-cluster: the new cluster_settings.cluster_name
  -h, --help               show this help

Examples:
  raftlog snapshot save backup.rlb -c cluster_config.yaml
  raftlog snapshot status backup.rlb
  raftlog snapshot restore backup.rlb -n 1 -c new_cluster.yaml

Exit status: 0 done; 1 failed (a damaged backup, no leader, a directory that is not empty);
2 bad usage.`

export const snapshotCommand: Command = {
  name: 'snapshot',
  summary: 'Save a backup of a running cluster, check one, restore one as a new cluster',
  help,
  async run(args) {
    const [action, ...rest] = args
    if (action === 'save') return save(rest)
    if (action === 'status') return status(rest)
    if (action === 'restore') return restore(rest)
    throw new UsageError(action === undefined ? 'say save, status or restore' : `unknown action '${action}': say save, status or restore`)
  },
}

function oneFile(positionals: string[], action: string): string {
  if (positionals.length !== 1) throw new UsageError(`snapshot ${action} takes one FILE, got ${positionals.length === 0 ? 'none' : positionals.join(' ')}`)
  return positionals[0] as string
}

async function save(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { config: { type: 'string', short: 'c' }, endpoints: { type: 'string' }, ...tlsOptions, timeout: { type: 'string' } },
    allowPositionals: true,
    strict: true,
  })
  const file = oneFile(positionals, 'save')
  const timeoutMs = values.timeout === undefined ? undefined : timeoutFrom(values.timeout)
  const client = clientFrom(values, { failFast: true })
  try {
    const saved = await client.saveSnapshot(file, timeoutMs === undefined ? {} : { timeoutMs })
    console.log(`Saved a snapshot of cluster ${saved.clusterId} from node ${saved.nodeId} (leader) to ${file}: index ${saved.index}, term ${saved.term}, ${formatBytes(saved.sizeBytes)}, checksum ${saved.checksum}`)
    return 0
  } finally {
    client.close()
  }
}

async function status(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { json: { type: 'boolean' } }, allowPositionals: true, strict: true })
  const file = oneFile(positionals, 'status')
  const summary = await checkBackupFile(file)
  const keys = await keysInBackup(summary)
  const configuration = decodeConfiguration(Buffer.from(JSON.stringify(summary.configuration)))
  if (values.json === true) {
    const { path, index, term, clusterId, foundingId, nodeId, createdAt, sizeBytes, dataBytes, chunks, checksum } = summary
    console.log(JSON.stringify({ path, ok: true, index, term, clusterId, foundingId, nodeId, createdAt, configuration, sizeBytes, dataBytes, chunks, ...(keys === undefined ? {} : { keys }), checksum }, null, 2))
    return 0
  }
  console.log(statusText(summary, configuration, keys))
  return 0
}

function statusText(summary: BackupSummary, configuration: Configuration, keys: number | undefined): string {
  const addresses = Object.entries(configuration.addresses).map(([id, address]) => `${id} ${address}`).join(', ')
  const rows: [string, string][] = [
    ['checksum', `${summary.checksum} (ok: every checksum checks out)`],
    ['index', String(summary.index)],
    ['term', String(summary.term)],
    ['cluster id', summary.clusterId],
    ['taken by', `node ${summary.nodeId}, ${summary.createdAt}`],
    ['configuration', `${describeConfiguration(configuration)}${addresses === '' ? '' : ` (${addresses})`}`],
    ['size', `${formatBytes(summary.sizeBytes)} (${summary.sizeBytes} bytes; state machine data ${summary.dataBytes} bytes in ${summary.chunks} ${summary.chunks === 1 ? 'chunk' : 'chunks'})`],
  ]
  if (keys !== undefined) rows.push(['keys', String(keys)])
  return [`${summary.path}: a raftlog backup`, ...rows.map(([name, value]) => `  ${name.padEnd(14)} ${value}`)].join('\n')
}

async function restore(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      'node-id': { type: 'string', short: 'n' },
      config: { type: 'string', short: 'c' },
      'data-dir': { type: 'string' },
      'initial-cluster': { type: 'string' },
      'cluster-name': { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  })
  const file = oneFile(positionals, 'restore')
  const text = values['node-id']
  if (text === undefined) throw new UsageError('--node-id is required: the node whose directory is built')
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new UsageError(`--node-id must be a whole number from 1, got '${text}'`)
  const nodeId = Number(text)
  let members: Member[]
  let dir: string
  let clusterName: string
  let startWith: string
  if (values['initial-cluster'] !== undefined) {
    if (values.config !== undefined) throw new UsageError('give --config or --initial-cluster, not both')
    if (values['data-dir'] === undefined) throw new UsageError('--initial-cluster needs --data-dir: the directory to build')
    members = parseInitialCluster(values['initial-cluster'])
    dir = resolve(values['data-dir'])
    clusterName = values['cluster-name'] ?? ''
    startWith = `raftlog node -n ${nodeId} -c FILE, FILE a configuration of the new cluster:\n${configurationYaml(members, dir, nodeId, clusterName)}`
  } else {
    if (values['cluster-name'] !== undefined) throw new UsageError('--cluster-name goes with --initial-cluster; with --config it is cluster_settings.cluster_name')
    const configPath = values.config ?? 'cluster_config.yaml'
    const cluster = loadClusterConfig(configPath)
    members = cluster.nodes.map((node) => ({ id: node.nodeId, address: node.address }))
    dir = values['data-dir'] === undefined ? join(cluster.logDirectory, `node_${nodeId}`) : resolve(values['data-dir'])
    clusterName = cluster.clusterName
    startWith = `raftlog node -n ${nodeId} -c ${configPath}.`
  }
  if (!members.some((member) => member.id === nodeId)) throw new UsageError(`node ${nodeId} is not one of the new cluster's nodes (${members.map((m) => m.id).join(', ')})`)
  const report = await restoreSnapshot({ file, dir, nodeId, members, clusterName })
  console.log(`Restored ${file} (index ${report.index}, term ${report.term}, from cluster ${report.backup.clusterId}) into ${dir} as node ${nodeId} of a new cluster ${report.foundingId}: ${describeConfiguration(report.configuration)}`)
  console.log(`Start it with ${startWith}`)
  return 0
}

/**
 * The cluster_config.yaml a node restored with --initial-cluster and --data-dir starts with (raftlog
 * node has no --data-dir: a node's directory is node_<id> in log_directory), saying first to
 * rename the directory when it is not named so.
 */
function configurationYaml(members: readonly Member[], dir: string, nodeId: number, clusterName: string): string {
  const node = (member: Member): string => {
    const colon = member.address.lastIndexOf(':')
    return `  - { node_id: ${member.id}, ip_address: ${JSON.stringify(member.address.slice(0, colon).replace(/^\[|\]$/g, ''))}, port: ${member.address.slice(colon + 1)} }`
  }
  const rename = basename(dir) === `node_${nodeId}` ? '' : `# first rename ${dir} to ${join(dirname(dir), `node_${nodeId}`)}: a node's directory is node_<id> in log_directory\n`
  return `${rename}nodes:\n${members.map(node).join('\n')}\ncluster_settings:\n  log_directory: ${JSON.stringify(dirname(dir))}${clusterName === '' ? '' : `\n  cluster_name: ${JSON.stringify(clusterName)}`}`
}

/** ID=HOST:PORT,... as members. */
function parseInitialCluster(text: string): Member[] {
  const members: Member[] = []
  for (const part of text.split(',').map((p) => p.trim()).filter((p) => p.length > 0)) {
    const match = /^(\d+)=(.+)$/.exec(part)
    if (match === null || Number(match[1]) < 1 || !isHostPort(match[2] as string)) throw new UsageError(`--initial-cluster must be ID=HOST:PORT[,ID=HOST:PORT...], got '${part}'`)
    if (members.some((m) => m.id === Number(match[1]))) throw new UsageError(`--initial-cluster lists node ${match[1]} twice`)
    members.push({ id: Number(match[1]), address: match[2] as string })
  }
  if (members.length === 0) throw new UsageError('--initial-cluster lists no node')
  return members
}
