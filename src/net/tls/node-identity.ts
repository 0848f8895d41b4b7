// Which node a certificate speaks for. The rule (README, "Running across machines"): a node's
// certificate names its node id in exactly one subject alternative name of type URI,
// `raftlog://node/<id>` (for node 2: `raftlog://node/2`). A certificate with no such name, or
// with two, speaks for no node: it may still be a client's certificate. A URI SAN (not the
// subject CN) because SANs are what TLS checks today, and a CN is free text a CA may fill in
// for other reasons.
import { X509Certificate } from 'node:crypto'
import type { PeerCertificate } from 'node:tls'

/** The URI SAN that names node `id`. */
export function nodeUri(id: number): string {
  return `raftlog://node/${id}`
}

const nodeUriPattern = /^URI:raftlog:\/\/node\/([1-9][0-9]{0,9})$/

/**
 * The node id a certificate names, or undefined when it names none or more than one.
 * `subjectAltName` is Node's text form ("DNS:localhost, IP Address:127.0.0.1, URI:raftlog://node/2").
 */
export function nodeIdOfAltNames(subjectAltName: string | undefined): number | undefined {
  if (subjectAltName === undefined) return undefined
  const ids = subjectAltName
    .split(', ')
    .map((name) => nodeUriPattern.exec(name)?.[1])
    .filter((id): id is string => id !== undefined)
  if (ids.length !== 1) return undefined
  const id = Number(ids[0])
  return id <= 0xffffffff ? id : undefined
}

/** The node id a certificate names (see nodeIdOfAltNames). */
export function nodeIdOf(certificate: X509Certificate | PeerCertificate): number | undefined {
  return nodeIdOfAltNames(certificate instanceof X509Certificate ? certificate.subjectAltName : certificate.subjectaltname)
}

/** Every certificate of a PEM bundle (a CA file may hold several: roots, intermediates). */
export function parseCertificates(pem: string | Buffer): X509Certificate[] {
  const blocks = pem.toString().match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []
  return blocks.map((block) => new X509Certificate(block))
}

/**
 * Whether `certificate` (DER bytes, as a TLS peer presented it) was signed by one of `authorities`.
 * TLS already checked the whole chain against every trusted CA of the port; this tells which
 * list it chains to, so a client CA can never vouch for a peer, nor a peer CA for a client.
 */
export function issuedByOneOf(certificate: Buffer, authorities: readonly X509Certificate[]): boolean {
  let leaf: X509Certificate
  try {
    leaf = new X509Certificate(certificate)
  } catch {
    return false
  }
  return authorities.some((authority) => leaf.checkIssued(authority) && leaf.verify(authority.publicKey))
}
