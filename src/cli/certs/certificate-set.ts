// A CA, per-node certificates and a client certificate for a test cluster, made with node-forge
// (a maintained X.509 library: no hand-written ASN.1 here). For testing and trying TLS out: a
// production cluster's certificates come from the organisation's own CA, with its own rules for
// keys, lifetimes and revocation.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { join } from 'node:path'
import forge from 'node-forge'
import { caFiles, clientFiles, defaultValidityDays, nodeFiles } from './certificate-files.js'
import { RaftLogError } from '../../errors.js'
import { nodeUri } from '../../net/tls/node-identity.js'

/** RSA key size of every key made here, in bits. */
export const keyBits = 2048

export interface CertificateSetOptions {
  /** Where the files go (created if needed). */
  dir: string
  /** The node ids to make certificates for. */
  nodes: number[]
  /** Extra host names or IP addresses per node (its ip_address from a configuration). */
  hosts?: Map<number, string[]>
  /** Lifetime in days (default 365). */
  days?: number
  /** Replace files that exist (default: refuse). */
  force?: boolean
}

type AltName = { type: 2; value: string } | { type: 6; value: string } | { type: 7; ip: string }


function hostName(host: string): AltName {
  return isIP(host) === 0 ? { type: 2, value: host } : { type: 7, ip: host }
}

/** A positive serial number of 16 random bytes (RFC 5280 allows up to 20). */
function serialNumber(): string {
  return `01${forge.util.bytesToHex(forge.random.getBytesSync(15))}`
}

function certificate(subject: string, keys: forge.pki.rsa.KeyPair, days: number, issuer?: { cert: forge.pki.Certificate; key: forge.pki.rsa.PrivateKey }): forge.pki.Certificate {
  const cert = forge.pki.createCertificate()
  cert.publicKey = keys.publicKey
  cert.serialNumber = serialNumber()
  // A minute in the past: clocks of the machines of a cluster are never quite equal.
  cert.validity.notBefore = new Date(Date.now() - 60_000)
  cert.validity.notAfter = new Date(Date.now() + days * 24 * 3600 * 1000)
  cert.setSubject([{ name: 'commonName', value: subject }])
  cert.setIssuer(issuer === undefined ? cert.subject.attributes : issuer.cert.subject.attributes)
  return cert
}

function pem(cert: forge.pki.Certificate, key: forge.pki.rsa.PrivateKey): { cert: string; key: string } {
  return { cert: forge.pki.certificateToPem(cert), key: forge.pki.privateKeyToPem(key) }
}

/** A leaf certificate signed by the CA: a node's (server and client) or the client's. */
function leaf(subject: string, altNames: AltName[], usage: { serverAuth: boolean }, days: number, ca: { cert: forge.pki.Certificate; key: forge.pki.rsa.PrivateKey }): { cert: string; key: string } {
  const keys = forge.pki.rsa.generateKeyPair({ bits: keyBits })
  const cert = certificate(subject, keys, days, ca)
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
    { name: 'extKeyUsage', serverAuth: usage.serverAuth, clientAuth: true },
    ...(altNames.length === 0 ? [] : [{ name: 'subjectAltName', altNames }]),
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: ca.cert.generateSubjectKeyIdentifier().getBytes() },
  ])
  cert.sign(ca.key, forge.md.sha256.create())
  return pem(cert, keys.privateKey)
}

/**
 * Writes ca.crt/ca.key, node-<id>.crt/.key for each node and client.crt/.key into `dir`; returns
 * the paths written. Each node's certificate names it (URI SAN raftlog://node/<id>) and holds
 * localhost, 127.0.0.1, ::1 and its configured host. Keys are written readable by the owner only.
 */
export function createCertificateSet(options: CertificateSetOptions): string[] {
  const days = options.days ?? defaultValidityDays
  const names = [caFiles, clientFiles, ...options.nodes.map(nodeFiles)].flatMap((pair) => [pair.cert, pair.key])
  const existing = names.filter((name) => existsSync(join(options.dir, name)))
  if (existing.length > 0 && options.force !== true) {
    throw new RaftLogError('ERR_EXISTS', `${options.dir} already holds ${existing.join(', ')}: choose another directory, or --force to replace them`, { dir: options.dir })
  }
  mkdirSync(options.dir, { recursive: true })
  const caKeys = forge.pki.rsa.generateKeyPair({ bits: keyBits })
  const caCert = certificate('raftlog test CA', caKeys, days)
  caCert.setExtensions([{ name: 'basicConstraints', cA: true, critical: true }, { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true }, { name: 'subjectKeyIdentifier' }])
  caCert.sign(caKeys.privateKey, forge.md.sha256.create())
  const ca = { cert: caCert, key: caKeys.privateKey }
  const written: string[] = []
  const write = (files: { cert: string; key: string }, contents: { cert: string; key: string }): void => {
    writeFileSync(join(options.dir, files.cert), contents.cert)
    writeFileSync(join(options.dir, files.key), contents.key, { mode: 0o600 })
    written.push(join(options.dir, files.cert), join(options.dir, files.key))
  }
  write(caFiles, pem(caCert, caKeys.privateKey))
  for (const id of options.nodes) {
    const hosts = [...new Set(['localhost', '127.0.0.1', '::1', ...(options.hosts?.get(id) ?? [])])]
    write(nodeFiles(id), leaf(`raftlog node ${id}`, [{ type: 6, value: nodeUri(id) }, ...hosts.map(hostName)], { serverAuth: true }, days, ca))
  }
  write(clientFiles, leaf('raftlog client', [], { serverAuth: false }, days, ca))
  return written
}
