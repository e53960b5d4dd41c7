// ibous error answers: `{"error": true, "status": "<message>"}` with a 4xx status. The seed has
// no error codes; the message says what is wrong. Anything unexpected is a 500 without detail.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { isCoreError } from '../../errors.ts';

export class IbousError extends Error {
  constructor(readonly http_status: number, message: string, readonly retry_after_s?: number) {
    super(message);
  }
}

export function ibousError(status: string) {
  return { error: true, status };
}

const FASTIFY_MESSAGES: Record<string, string> = {
  FST_ERR_CTP_INVALID_JSON: 'Request body is not valid JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'Request body is not valid JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'Request body is empty but Content-Type is application/json',
  FST_ERR_CTP_BODY_TOO_LARGE: 'Request body is too large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'Unsupported Content-Type: send JSON, a form body or query parameters',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'Invalid Content-Length',
};

export function ibousErrorHandler(err: FastifyError | Error, req: FastifyRequest, reply: FastifyReply) {
  if (err instanceof IbousError) {
    if (err.retry_after_s !== undefined) reply.header('retry-after', String(err.retry_after_s));
    return reply.code(err.http_status).send(ibousError(err.message));
  }
  if (isCoreError(err)) {
    const status = err.code === 'not_found' ? 404 : err.code === 'unauthorized' ? 401 : err.code === 'invalid_request' ? 400 : 409;
    return reply.code(status).send(ibousError(err.message));
  }
  const fe = err as FastifyError;
  if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
    return reply.code(fe.statusCode).send(ibousError(FASTIFY_MESSAGES[fe.code] ?? fe.message));
  }
  req.log.error({ err }, 'ibous: unhandled error');
  return reply.code(500).send(ibousError('Internal error'));
}
