import type { FastifyReply } from 'fastify';

/** An AbortController that aborts when the client goes away before the answer is sent. */
export function abortOnDisconnect(reply: FastifyReply): AbortController {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  return controller;
}
