// How large a client's request and a key-value key may be. A node refuses a larger one before
// it enters the log: an entry that large slows every follower's replication and every restart,
// and a key that large made every later scan page too large to ask for (its `after` key is part
// of the next page's request). The defaults are etcd's (1.5 MiB per request) and a key bound far
// above any sensible key; cluster_settings.max_request_bytes and max_key_bytes change them.

/** The most max_request_bytes may be: far below the gRPC message limit, so an entry always fits one AppendEntries. */
export const maxCommandBytes = 16 * 1024 * 1024
/** Default largest client command or read query, session envelope included (etcd's --max-request-bytes). */
export const defaultMaxRequestBytes = 1536 * 1024
/** Default largest key of the key-value store. */
export const defaultMaxKeyBytes = 64 * 1024
/** The least max_request_bytes may be: room for a session envelope and a small command. */
export const minRequestBytes = 1024
