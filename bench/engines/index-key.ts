/** An index as an 8-byte big-endian key, so key-ordered stores keep entries in log order. */
export function indexKey(index: number): Buffer {
  const bytes = Buffer.allocUnsafe(8)
  bytes.writeBigUInt64BE(BigInt(index))
  return bytes
}
