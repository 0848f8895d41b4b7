// Keys, names and values as ClusterClient's etcd helpers take them, and etcd's prefix rule.

/** A key, name or value: bytes, or a string meaning its UTF-8 bytes (as the key-value store takes them). */
export type Bytes = string | Uint8Array

/** The bytes of `value` (a view when it is bytes already). */
export function bytesOf(value: Bytes): Buffer {
  return typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value.buffer, value.byteOffset, value.length)
}

/** The range end of every key starting with `key` (etcd's rule): the key with its last byte below 0xff raised by one, 0xff bytes after it dropped; "\0" (every key) when there is none. */
export function prefixEnd(key: Uint8Array): Buffer {
  const end = Buffer.from(key)
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] as number) < 0xff) {
      end[i] = (end[i] as number) + 1
      return end.subarray(0, i + 1)
    }
  }
  return Buffer.of(0)
}
