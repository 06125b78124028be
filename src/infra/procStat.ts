/**
 * The fields of `/proc/<pid>/stat` a caller needs: the state (`R`, `S`, `Z`...) and the process group. The
 * command name may hold spaces and parentheses, so fields are read after the last `)`.
 */
export function parseProcStat(text: string): { state: string; pgrp: number } {
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0] ?? '?', pgrp: Number(fields[2]) };
}
