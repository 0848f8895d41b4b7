// Certificates and TLS settings for tests: a fresh test CA (raftlog certs init's code) per call.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createCertificateSet } from '../../src/cli/certs/certificate-set.js'
import type { ClientTls } from '../../src/net/tls/client-tls.js'

/** Makes ca, node-<id> and client certificates in `dir`/`name`; returns the directory. */
export function makeCertificates(dir: string, nodes: number[], name = 'certs'): string {
  const at = join(dir, name)
  createCertificateSet({ dir: at, nodes, days: 2 })
  return at
}

/** cluster_settings lines (for writeConfig) of mutual TLS from certificates in `<configDir>/name`. */
export function tlsSettings(options: { clientCertAuth: boolean; name?: string }): Record<string, string> {
  const name = options.name ?? 'certs'
  return {
    peer_tls: `{ ca_file: "${name}/ca.crt", cert_file: "${name}/node-{node_id}.crt", key_file: "${name}/node-{node_id}.key" }`,
    client_tls: `{ ca_file: "${name}/ca.crt", cert_file: "${name}/client.crt", key_file: "${name}/client.key", client_cert_auth: ${options.clientCertAuth} }`,
  }
}

/** A ClientTls from the files of a certificate directory: `who` is 'client', 'node-2', … or undefined (CA only). */
export function clientTlsFrom(certs: string, who?: string): ClientTls {
  const ca = readFileSync(join(certs, 'ca.crt'))
  if (who === undefined) return { ca }
  return { ca, cert: readFileSync(join(certs, `${who}.crt`)), key: readFileSync(join(certs, `${who}.key`)) }
}
