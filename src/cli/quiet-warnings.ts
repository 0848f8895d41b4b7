// grpc-js passes a node's IP address as the TLS server name, and Node warns about it once per
// process (DEP0123, "Setting the TLS ServerName to an IP address is not permitted by RFC 6066").
// The certificate is still checked against the IP address; the warning only tells a user of
// `raftlog kv` or `raftlog node` about grpc-js's internals, so the CLI drops that one warning.
// (The library itself leaves process warnings alone.)
const emitWarning = process.emitWarning.bind(process)
process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
  const options = rest[0]
  const code = typeof options === 'object' && options !== null ? (options as { code?: string }).code : rest[1]
  if (code === 'DEP0123') return
  ;(emitWarning as (...args: unknown[]) => void)(warning, ...rest)
}) as typeof process.emitWarning
