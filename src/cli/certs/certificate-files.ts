// What raftlog certs init writes, by name: kept apart from the certificate maker so that the
// CLI loads node-forge only when it makes certificates.

/** Default lifetime of the certificates, in days. */
export const defaultValidityDays = 365

/** The file names, relative to the directory. */
export const caFiles = { cert: 'ca.crt', key: 'ca.key' }
export const clientFiles = { cert: 'client.crt', key: 'client.key' }
export function nodeFiles(id: number): { cert: string; key: string } {
  return { cert: `node-${id}.crt`, key: `node-${id}.key` }
}
