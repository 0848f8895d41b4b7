// Exit statuses a supervisor (systemd, raftlog cluster --restart) tells apart.

/**
 * `raftlog node` stopped because its id can never run here again: the cluster removed it, or (many
 * groups) refused it (ERR_ID_IN_USE: it lost its directory). Never restart it: node ids are not reused.
 */
export const removedExitStatus = 4
