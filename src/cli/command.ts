/** One `raftlog <name>` subcommand. Each lives in its own file under src/cli/commands/. */
export interface Command {
  /** The word after `raftlog`. */
  name: string
  /** One line for `raftlog --help`. */
  summary: string
  /** The full `raftlog <name> --help` text: usage line, options, examples. */
  help: string
  /** Runs the command with the arguments after its name; resolves with the exit status. */
  run(args: string[]): Promise<number>
}

/** A mistake in how the command was called: printed as `Error: <message>` with exit status 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'UsageError'
  }
}
