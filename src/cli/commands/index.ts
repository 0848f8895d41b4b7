import type { Command } from '../command.js'
import { certsCommand } from './certs.js'
import { clusterCommand } from './cluster.js'
import { compactCommand } from './compact.js'
import { crashTestCommand } from './crash-test.js'
import { dashboardCommand } from './dashboard.js'
import { dumpCommand } from './dump.js'
import { inspectCommand } from './inspect.js'
import { kvCommand } from './kv.js'
import { memberCommand } from './member.js'
import { nodeCommand } from './node.js'
import { recoverCommand } from './recover.js'
import { repairCommand } from './repair.js'
import { snapshotCommand } from './snapshot.js'
import { statusCommand } from './status.js'
import { transferLeaderCommand } from './transfer-leader.js'
import { txnCommand } from './txn.js'
import { verifyCommand } from './verify.js'
import { watchCommand } from './watch.js'
import { leaseCommand } from './lease.js'
import { lockCommand } from './lock.js'
import { electCommand } from './elect.js'
import { groupCommand } from './group.js'

/** Every subcommand, in the order `raftlog --help` lists them. Add one line per command. */
export const commands: Command[] = [
  nodeCommand,
  clusterCommand,
  kvCommand,
  txnCommand,
  compactCommand,
  watchCommand,
  leaseCommand,
  lockCommand,
  electCommand,
  statusCommand,
  groupCommand,
  memberCommand,
  transferLeaderCommand,
  dashboardCommand,
  certsCommand,
  inspectCommand,
  verifyCommand,
  dumpCommand,
  repairCommand,
  snapshotCommand,
  recoverCommand,
  crashTestCommand,
]
