// Exit statuses a supervisor (systemd, raftlog cluster --restart) tells apart.

/**
 * `raftlog node` stopped because its id can never run here again: the cluster removed it, or (many
 * groups) refused it (ERR_ID_IN_USE: it lost its directory). Never restart it: node ids are not reused.
 */
export const removedExitStatus = 4

/**
 * `raftlog node` stopped because its directory is damaged (ERR_CORRUPT at open): starting it again
 * fails the same way until `raftlog repair` has cut the damage, so a supervisor does not restart it.
 */
export const damagedExitStatus = 5
