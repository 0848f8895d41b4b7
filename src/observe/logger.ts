// The log lines of `raftlog node` and `raftlog cluster`: text for a terminal (a timestamp, who
// speaks, the message) or JSON lines for a log collector (pino: level, time, event, message and
// the event's fields). Lines go to process.stdout (text warnings and errors to stderr), which
// Node writes synchronously to a file, a pipe or a terminal on Linux: a line logged just before
// the process exits is not lost, and a write to a closed pipe is an 'error' event on the stream,
// not an exception in the caller.
import { pino } from 'pino'
import { escapeControls } from '../raft/node/log-text.js'

export type LogFormat = 'text' | 'json'
export const logFormats: readonly LogFormat[] = ['text', 'json']

export type Level = 'info' | 'warn' | 'error'

export interface Logger {
  /** `event` names what happened (a stable word for scripts); `message` says it to a person. */
  info(event: string, message: string, fields?: Record<string, unknown>): void
  warn(event: string, message: string, fields?: Record<string, unknown>): void
  error(event: string, message: string, fields?: Record<string, unknown>): void
}

/** Who writes the lines: a node (its id), or `raftlog cluster` itself. */
export type LogSource = { nodeId: number } | { cluster: true }

/**
 * One text line: `2026-12-02T10:04:05.123Z [node 2] warning: message`. Control characters in
 * the message are escaped: text that came from elsewhere (an address, an error) can neither
 * start a forged line nor send a terminal escape sequence.
 */
export function textLine(time: string, source: LogSource, level: Level, message: string): string {
  const who = 'nodeId' in source ? `[node ${source.nodeId}]` : 'cluster:'
  const tag = level === 'info' ? '' : `${level === 'warn' ? 'warning' : 'error'}: `
  return `${time} ${who} ${tag}${escapeControls(message)}`
}

export function createLogger(format: LogFormat, source: LogSource): Logger {
  return format === 'json' ? jsonLogger(source) : textLogger(source)
}

function textLogger(source: LogSource): Logger {
  const write = (level: Level) => (_event: string, message: string) => {
    // On a terminal, warnings and errors go where a user (or 2>file) looks for them.
    const stream = level === 'info' ? process.stdout : process.stderr
    stream.write(`${textLine(new Date().toISOString(), source, level, message)}\n`)
  }
  return { info: write('info'), warn: write('warn'), error: write('error') }
}

function jsonLogger(source: LogSource): Logger {
  const logger = pino(
    {
      base: 'nodeId' in source ? { nodeId: source.nodeId } : { source: 'cluster' },
      messageKey: 'message',
      timestamp: pino.stdTimeFunctions.isoTime,
      // "info", not 30: readable by a person and by jq alike.
      formatters: { level: (label) => ({ level: label }) },
    },
    process.stdout,
  )
  const write = (level: Level) => (event: string, message: string, fields: Record<string, unknown> = {}) => logger[level]({ ...fields, event }, message)
  return { info: write('info'), warn: write('warn'), error: write('error') }
}
