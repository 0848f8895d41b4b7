// The raftlog command line as a function: the arguments in, the exit status out, what it says on
// stdout and stderr. main.ts runs it for the process; tests may run it in their own.
import { UsageError } from './command.js'
import { commands } from './commands/index.js'
import { RaftLogError } from '../errors.js'
import { packageVersion } from './version.js'
import { wrongClusterKind } from './wrong-cluster-kind.js'

function overview(): string {
  const width = Math.max(...commands.map((c) => c.name.length), 4)
  const lines = commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`)
  return [
    'Usage: raftlog <command> [options]',
    '',
    'A durable, segmented, memory-mapped Raft log for Node.js.',
    '',
    'Commands:',
    ...lines,
    '',
    'Run `raftlog <command> --help` for the options of one command, `raftlog --version` for the version.',
  ].join('\n')
}

/** node:util parseArgs throws these for unknown options or missing values: a usage mistake. */
function isParseArgsError(error: unknown): boolean {
  const code = (error as { code?: unknown }).code
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')
}

/**
 * A usage error's message. Node's for an unknown option leaves a quote open (`as in '-- "--x"`):
 * said here with the quotes closed.
 */
function usageMessage(error: Error): string {
  const unknown = /^Unknown option '([^']*)'\. To specify a positional argument starting with a '-'/.exec(error.message)
  if (unknown === null) return error.message
  const option = unknown[1] as string
  return `Unknown option '${option}'. A value that starts with '-' goes at the end of the command, after '--': -- ${JSON.stringify(option)}`
}

/** An error from a failed system call (node's fs or the addon): it carries code and syscall. */
function isSystemError(error: unknown): boolean {
  const { code, syscall } = error as { code?: unknown; syscall?: unknown }
  return typeof code === 'string' && typeof syscall === 'string'
}

/**
 * Runs `raftlog ...argv` and resolves with its exit status: 0 done, 1 a failure (said in one
 * Error line), 2 bad usage; some commands use more (see their help). A bug rejects.
 */
export async function runRaftlog(argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(overview())
    return name === undefined ? 2 : 0
  }
  if (name === '--version' || name === '-V' || name === 'version') {
    console.log(`raftlog ${packageVersion()}`)
    return 0
  }
  const command = commands.find((c) => c.name === name)
  if (command === undefined) {
    console.error(`Error: unknown command '${name}'\n\n${overview()}`)
    return 2
  }
  // `--` ends the options: what follows is data (`raftlog kv put k -- --help` stores "--help").
  const end = rest.indexOf('--')
  const options = end === -1 ? rest : rest.slice(0, end)
  if (options.includes('--help') || options.includes('-h')) {
    console.log(command.help)
    return 0
  }
  try {
    return await command.run(rest)
  } catch (error) {
    if (error instanceof UsageError || isParseArgsError(error)) {
      console.error(`Error: ${usageMessage(error as Error)}\nRun \`raftlog ${name} --help\` for usage.`)
      return 2
    }
    const wrongKind = error instanceof Error ? wrongClusterKind(name, error.message) : undefined
    if (wrongKind !== undefined) {
      console.error(`Error: ${wrongKind}`)
      return 1
    }
    // A RaftLogError, or a system call that failed (EACCES on a file, say): one line, no stack.
    if (error instanceof RaftLogError || isSystemError(error)) {
      console.error(`Error: ${(error as Error).message}`)
      return 1
    }
    throw error
  }
}
