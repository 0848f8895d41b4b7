// Keys and values of the key-value store are bytes. Callers may give a string, which means its
// UTF-8 bytes; the store hands back Buffers. Inside, the store keeps each as a "binary string"
// (one char per byte, latin1): a JavaScript Map needs a string key, the conversion is exact both
// ways for every byte sequence (0xff and 0xfe stay two keys), V8 keeps such strings at one byte
// per char, and comparing two of them compares their bytes, so key order is byte order (etcd's).

/** A key or value: bytes, or a string meaning its UTF-8 bytes. */
export type KvBytes = string | Uint8Array

/** The bytes of `value` (a view over them when it is already bytes; no copy). */
export function kvBuffer(value: KvBytes): Buffer {
  return typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value.buffer, value.byteOffset, value.length)
}

/** The store's form of `value`: one char per byte. */
export function toBinary(value: KvBytes): string {
  return kvBuffer(value).toString('latin1')
}

/** Bytes back from the store's form. */
export function fromBinary(binary: string): Buffer {
  return Buffer.from(binary, 'latin1')
}
