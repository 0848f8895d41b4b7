// Which Host headers the status page answers. A page on any web site can make a browser send
// requests to 127.0.0.1 under a name its owner controls (DNS rebinding: the name first resolves to
// the site, then to 127.0.0.1); the browser then lets that page read the answers, /api/cluster
// included. Only the Host header shows it: it carries the attacker's name. So the page answers
// only a Host that names this machine as a user types it: an IP address, localhost, this
// machine's host name, or the name it was told to serve on.
import { hostname } from 'node:os'
import { isIP } from 'node:net'

/** The host part of a Host header (`name:port`, `[v6]:port`), lowercased; undefined when malformed. */
export function hostOfHeader(header: string): string | undefined {
  const bracketed = /^\[([0-9a-f:.]+)\](?::\d{1,5})?$/i.exec(header)
  if (bracketed !== null) return bracketed[1]?.toLowerCase()
  const plain = /^([^:[\]\s]+)(?::\d{1,5})?$/.exec(header)
  return plain?.[1]?.toLowerCase().replace(/\.$/, '')
}

/** A predicate for the Host headers of a page served on `boundHost`. A request without one (not a browser's) is answered. */
export function allowedHosts(boundHost: string): (header: string | undefined) => boolean {
  const names = new Set(['localhost', hostname().toLowerCase(), boundHost.toLowerCase()])
  return (header) => {
    if (header === undefined) return true
    const host = hostOfHeader(header)
    return host !== undefined && (isIP(host) !== 0 || names.has(host))
  }
}
