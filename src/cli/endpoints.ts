import { loadClusterConfig } from '../net/cluster-config.js'
import { UsageError } from './command.js'

import { ClusterClient, type ClusterClientOptions } from '../net/cluster-client.js'

/** A client for the nodes of --endpoints (host:port,...) or of the configuration file. */
export function clientFrom(values: { endpoints?: string | undefined; config?: string | undefined }, options: ClusterClientOptions = {}): ClusterClient {
  if (values.endpoints !== undefined) {
    const endpoints = values.endpoints.split(',').map((e) => e.trim()).filter((e) => e.length > 0)
    const bad = endpoints.find((e) => !/^[^:\s]+:\d{1,5}$/.test(e))
    if (endpoints.length === 0 || bad !== undefined) throw new UsageError(`--endpoints must be host:port[,host:port...], got '${values.endpoints}'`)
    return new ClusterClient(endpoints, [], options)
  }
  const nodes = loadClusterConfig(values.config ?? 'cluster_config.yaml').nodes
  return new ClusterClient(
    nodes.map((node) => node.address),
    nodes.map((node) => node.nodeId),
    options,
  )
}

export function timeoutFrom(text: string | undefined): number {
  if (text === undefined) return 5000
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new UsageError(`--timeout must be a whole number of milliseconds, got '${text}'`)
  return Number(text)
}
