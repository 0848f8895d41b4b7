// `raftlog cluster` runs its nodes with JSON log lines and shows them in its own format: as they
// are (--log-format json) or as text lines with their time. Reading the nodes' events is also how
// it knows when a node serves.
import type { ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { createLogger, textLine, type Level, type LogFormat } from '../observe/logger.js'

/** A node's log line as its JSON logger writes it. */
export interface NodeRecord {
  level: Level
  time: string
  nodeId: number
  event: string
  message: string
  [field: string]: unknown
}

function parseRecord(line: string): NodeRecord | undefined {
  if (!line.startsWith('{')) return undefined
  try {
    const record = JSON.parse(line) as Partial<NodeRecord>
    return typeof record.message === 'string' && typeof record.event === 'string' ? (record as NodeRecord) : undefined
  } catch {
    return undefined
  }
}

/** Shows node `nodeId`'s output in `format`; calls `onEvent` for each of its log records. */
export function relayNodeOutput(child: ChildProcess, nodeId: number, format: LogFormat, onEvent: (record: NodeRecord) => void): void {
  // What a node writes that is not a log record (a stack trace, its `Error:` line when it cannot
  // start) is shown in the same format, as the node's own.
  const json = format === 'json' ? createLogger('json', { nodeId }) : undefined
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const record = parseRecord(line)
    if (json !== undefined) {
      if (record === undefined) json.info('output', line)
      else console.log(line)
    } else if (record === undefined) {
      console.log(textLine(new Date().toISOString(), { nodeId }, 'info', line))
    } else {
      // As the node's own text logger does: warnings and errors on stderr.
      const text = textLine(record.time, { nodeId }, record.level, record.message)
      if (record.level === 'info') console.log(text)
      else console.error(text)
    }
    // After the node's own line: what the cluster makes of it reads as its consequence.
    if (record !== undefined) onEvent(record)
  })
  createInterface({ input: child.stderr! }).on('line', (line) => {
    if (json !== undefined) json.error('stderr', line)
    else console.error(textLine(new Date().toISOString(), { nodeId }, 'info', line))
  })
}
