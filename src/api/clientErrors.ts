import { randomUUID } from 'node:crypto';
import { type Server, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { answerHeaderLines } from './answerHeaders.ts';

/** What node's HTTP parser refused, by its error code: the status and the error shape's code. */
const ANSWERS: Record<string, [status: number, code: string, message: string]> = {
  HPE_HEADER_OVERFLOW: [431, 'headers_too_large', 'the request line and headers are over the size limit'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'request_timeout', 'the request was not received in time'],
  HPE_CHUNK_EXTENSIONS_OVERFLOW: [413, 'payload_too_large', 'chunk extensions over the limit'],
};

/**
 * A request node's HTTP parser refuses (a malformed request line, an unknown method, a bad
 * `Content-Length`, headers over the limit) never reaches koa; node would answer a bare 400 or 431 without
 * a body. This gives it the one JSON error shape and a request id, then closes the connection (the parser
 * cannot read on past a malformed request). A socket already reset or half-answered is only destroyed.
 * Each answer is logged (info, a client's fault) with its request id and the parser's code, nothing of the
 * request itself: its bytes are what the parser could not read, and may hold a token.
 */
export function answerClientErrors(server: Server, logger?: Logger): void {
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    const answered = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent;
    if (error.code === 'ECONNRESET' || !socket.writable || answered) {
      socket.destroy();
      return;
    }
    const [status, code, message] = ANSWERS[error.code ?? ''] ?? [
      400,
      'bad_request',
      'the request is not well-formed HTTP/1.1',
    ];
    const body = JSON.stringify({ error: { code, message } });
    const requestId = randomUUID();
    logger?.info({ status, code, parser: error.code ?? null, requestId }, 'http: refused by the parser');
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
        'Content-Type: application/json; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        `X-Request-Id: ${requestId}\r\n` +
        answerHeaderLines() +
        'Connection: close\r\n\r\n' +
        body,
    );
  });
}
