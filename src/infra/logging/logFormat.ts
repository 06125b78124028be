/** `server.log_format`: `auto` picks `pretty` when stdout is a terminal, `json` otherwise. */
export const LOG_FORMATS = ['auto', 'pretty', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];
