import { loadClusterConfig } from '../net/config/cluster-config.js'
import { UsageError } from './command.js'

import type { ClusterClientOptions } from '../net/client/cluster-client.js'
import { KvClient } from '../kv/kv-client.js'
import { readClientTlsFiles, type ClientTlsFiles } from '../net/tls/client-tls.js'
import { maxTimerMs } from '../timer-limit.js'

/** The options of every command that talks to a cluster, for parseArgs. */
export const tlsOptions = { cacert: { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' } } as const

/** The lines of --help that describe tlsOptions. */
export const tlsHelp = `  --cacert FILE            the CA certificate (PEM) that signed the nodes' certificates: TLS
                           (default with a configuration that has peer_tls: its ca_file)
  --cert FILE, --key FILE  this client's certificate and key (PEM), for a cluster with
                           client_cert_auth, and for membership and leadership calls to any
                           cluster with TLS (default: the configuration's client_tls files)`

/**
 * A client (a ClusterClient with the key-value store's typed calls) for the nodes of --endpoints (host:port,...) or of the configuration file; TLS from
 * --cacert, --cert and --key, or else from the configuration (peer_tls, client_tls).
 */
export function clientFrom(values: { endpoints?: string | undefined; config?: string | undefined } & ClientTlsFiles, options: ClusterClientOptions = {}): KvClient {
  const tls = readClientTlsFiles(values)
  const withTls = tls === undefined ? options : { ...options, tls }
  if (values.endpoints !== undefined) {
    const endpoints = values.endpoints.split(',').map((e) => e.trim()).filter((e) => e.length > 0)
    const bad = endpoints.find((e) => !/^[^:\s]+:\d{1,5}$/.test(e))
    if (endpoints.length === 0 || bad !== undefined) throw new UsageError(`--endpoints must be host:port[,host:port...], got '${values.endpoints}'`)
    return new KvClient(endpoints, [], withTls)
  }
  return KvClient.forCluster(loadClusterConfig(values.config ?? 'cluster_config.yaml'), withTls)
}

export function timeoutFrom(text: string | undefined): number {
  if (text === undefined) return 5000
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > maxTimerMs) throw new UsageError(`--timeout must be a whole number of milliseconds from 1 to ${maxTimerMs} (about 24.8 days), got '${text}'`)
  return Number(text)
}
