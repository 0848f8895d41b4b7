// The limits on the connections to a node's port (`cluster_settings.connection_limits`): how many
// at once, how long a TLS handshake may take, how long a connection with no call in progress is
// kept, and the keepalive pings that find a peer that vanished. Without them a stranger who can
// reach the port could hold 1,200 connections for as long as they liked, with no certificate
// and no call. Each has a default that is safe for a user who never reads about it.
import type * as grpc from '@grpc/grpc-js'
import { invalid, record } from './config-fields.js'

export interface ConnectionLimits {
  /**
   * Connections open at once on the node's port, peers and clients together; further ones are
   * closed as they arrive (Node's net.Server maxConnections) until some close.
   */
  maxConnections: number
  /** A TLS connection that has not finished its handshake after this long is closed (ms). */
  handshakeTimeoutMs: number
  /** A connection with no call in progress is closed after this long (ms): a client reconnects when it next calls. */
  idleTimeoutMs: number
  /** The node pings a connection that carries calls after this long without a ping (ms)… */
  keepaliveIntervalMs: number
  /** …and closes it when the ping is not answered within this long (ms): the other end is gone. */
  keepaliveTimeoutMs: number
  /**
   * Calls one connection may have in progress at once (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS);
   * a client queues the rest. Thousands at once on a few connections starved the event loop
   * that also keeps the heartbeats going.
   */
  maxConcurrentStreams: number
}

export const defaultConnectionLimits: Readonly<ConnectionLimits> = Object.freeze({
  maxConnections: 1024,
  handshakeTimeoutMs: 10_000,
  idleTimeoutMs: 60_000,
  keepaliveIntervalMs: 30_000,
  keepaliveTimeoutMs: 10_000,
  maxConcurrentStreams: 256,
})

/** The YAML keys, in the order the README lists them. */
const keys = {
  max_connections: 'maxConnections',
  handshake_timeout_ms: 'handshakeTimeoutMs',
  idle_timeout_ms: 'idleTimeoutMs',
  keepalive_interval_ms: 'keepaliveIntervalMs',
  keepalive_timeout_ms: 'keepaliveTimeoutMs',
  max_concurrent_streams: 'maxConcurrentStreams',
} as const satisfies Record<string, keyof ConnectionLimits>

/** Largest value of each: a timer longer than 2^31 - 1 ms fires at once in Node. */
const maxValue = 2 ** 31 - 1

/** `cluster_settings.connection_limits`, every key optional; errors name the file and the field. */
export function connectionLimitsSettings(value: unknown, path: string): ConnectionLimits {
  const field = 'cluster_settings.connection_limits'
  const settings = value === undefined || value === null ? {} : record(value, path, field, Object.keys(keys))
  const limits: ConnectionLimits = { ...defaultConnectionLimits }
  for (const [key, name] of Object.entries(keys)) {
    const given = settings[key]
    if (given === undefined) continue
    if (typeof given !== 'number' || !Number.isInteger(given) || given < 1 || given > maxValue) {
      throw invalid(path, `${field}.${key}`, `must be a whole number from 1 to ${maxValue}, got ${JSON.stringify(given)}`)
    }
    limits[name] = given
  }
  return limits
}

/** The grpc-js server options that carry the limits grpc-js enforces itself (the idle timeout, keepalive). */
export function grpcServerLimits(limits: ConnectionLimits): grpc.ServerOptions {
  return {
    'grpc.max_connection_idle_ms': limits.idleTimeoutMs,
    'grpc.keepalive_time_ms': limits.keepaliveIntervalMs,
    'grpc.keepalive_timeout_ms': limits.keepaliveTimeoutMs,
    'grpc.max_concurrent_streams': limits.maxConcurrentStreams,
  }
}
