// host:port as members and clients name each other: a host name or IPv4 address, or an IPv6
// address in brackets, then a port from 1 to 65535. A member's address is written into the log,
// every node's log lines and every status reply: no control characters, and at most 253
// characters of host, as DNS allows.
const hostPortPattern = /^(\[[0-9a-fA-F:.]{2,45}\]|[^\s:[\]\u0000-\u001f\u007f-\u009f]{1,253}):(\d{1,5})$/

export function isHostPort(text: string): boolean {
  const port = Number(hostPortPattern.exec(text)?.[2] ?? 0)
  return port >= 1 && port <= 65535
}
