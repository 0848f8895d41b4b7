import { parseArgs } from 'node:util'
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { UsageError, type Command } from '../command.js'
import { loadClusterConfig } from '../../net/config/cluster-config.js'
import { caFiles, clientFiles, defaultValidityDays, nodeFiles } from '../certs/certificate-files.js'

const help = `Usage: raftlog certs init DIR [--nodes 1,2,3] [--config FILE] [--days N] [--force]

For testing: creates a certificate authority, a certificate for each node and one for a client
in DIR, ready for a configuration's peer_tls and client_tls. A production cluster should use
certificates from its own CA, with its own rules for keys, lifetimes and revocation.

Files (PEM; keys readable by the owner only):
  ca.crt, ca.key           the CA: the ca_file of peer_tls and client_tls
  node-ID.crt, node-ID.key each node's certificate, naming the node as raftlog://node/ID (a URI
                           subject alternative name) and valid for localhost, 127.0.0.1, ::1 and
                           the node's ip_address when --config is given
  client.crt, client.key   a client certificate (it names no node, so it cannot speak for one)

Options:
  --nodes LIST             the node ids, comma-separated (default: the configuration's nodes)
  -c, --config FILE        add each node's ip_address from this configuration to its certificate
                           (default: cluster_config.yaml when it is here and --nodes is not given)
  --days N                 how long the certificates are valid (default ${defaultValidityDays})
  --force                  replace files that exist in DIR
  -h, --help               show this help

Then, in cluster_settings (paths relative to the configuration file):
  peer_tls:   { ca_file: DIR/ca.crt, cert_file: DIR/node-{node_id}.crt, key_file: DIR/node-{node_id}.key }
  client_tls: { ca_file: DIR/ca.crt, cert_file: DIR/client.crt, key_file: DIR/client.key, client_cert_auth: true }

Example:
  raftlog certs init ./certs --nodes 1,2,3 -c cluster_config.yaml`

const defaultConfig = 'cluster_config.yaml'

function nodeIds(text: string): number[] {
  const ids = text.split(',').map((part) => part.trim())
  if (ids.length === 0 || ids.some((id) => !/^[1-9]\d{0,9}$/.test(id) || Number(id) > 0xffffffff)) throw new UsageError(`--nodes must be node ids (whole numbers from 1), comma-separated, got '${text}'`)
  if (new Set(ids).size !== ids.length) throw new UsageError(`--nodes names a node twice: '${text}'`)
  return ids.map(Number)
}

export const certsCommand: Command = {
  name: 'certs',
  summary: 'Create a test CA and node and client certificates for TLS (certs init DIR --nodes 1,2,3)',
  help,
  async run(args) {
    const { values, positionals } = parseArgs({
      args,
      options: { nodes: { type: 'string' }, config: { type: 'string', short: 'c' }, days: { type: 'string' }, force: { type: 'boolean' } },
      allowPositionals: true,
      strict: true,
    })
    if (positionals[0] !== 'init') throw new UsageError(positionals[0] === undefined ? 'certs needs a command: init DIR --nodes 1,2,3' : `unknown certs command '${positionals[0]}' (known: init)`)
    const dir = positionals[1]
    if (dir === undefined) throw new UsageError('certs init needs a directory: raftlog certs init DIR --nodes 1,2,3')
    if (positionals.length > 2) throw new UsageError(`certs init takes one directory, got ${positionals.slice(1).join(' ')}`)
    // As every command, the configuration here by default: but only to learn the nodes it was not told.
    const configPath = values.config ?? (values.nodes === undefined && existsSync(defaultConfig) ? defaultConfig : undefined)
    const cluster = configPath === undefined ? undefined : loadClusterConfig(configPath, { checkFiles: false })
    if (values.nodes === undefined && cluster === undefined) throw new UsageError(`--nodes is required (or --config, to take its nodes): there is no ${defaultConfig} here`)
    const nodes = values.nodes === undefined ? (cluster?.nodes.map((node) => node.nodeId) ?? []) : nodeIds(values.nodes)
    if (values.days !== undefined && (!/^\d+$/.test(values.days) || Number(values.days) < 1 || Number(values.days) > 36_500)) throw new UsageError(`--days must be a whole number from 1 to 36500, got '${values.days}'`)
    const hosts = new Map(cluster?.nodes.map((node) => [node.nodeId, [node.ipAddress]]) ?? [])
    // node-forge only now: every other command starts without it.
    const { createCertificateSet } = await import('../certs/certificate-set.js')
    createCertificateSet({ dir, nodes, hosts, ...(values.days === undefined ? {} : { days: Number(values.days) }), force: values.force === true })
    const at = resolve(dir)
    console.log(`created in ${at}: ${caFiles.cert} (CA), ${nodes.map((id) => nodeFiles(id).cert).join(', ')}, ${clientFiles.cert}, and their keys`)
    console.log('for testing only: a production cluster should use certificates from its own CA')
    return 0
  },
}
