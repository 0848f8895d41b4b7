// host:port as members and clients name each other: a host name or IPv4 address, or an IPv6
// address in brackets, then a port from 1 to 65535.
const hostPortPattern = /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):(\d{1,5})$/

export function isHostPort(text: string): boolean {
  const port = Number(hostPortPattern.exec(text)?.[2] ?? 0)
  return port >= 1 && port <= 65535
}
