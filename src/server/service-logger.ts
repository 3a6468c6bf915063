import type { FastifyRequest } from 'fastify';
import { destination as pinoDestination, pino, type DestinationStream, type Logger } from 'pino';

/** Options of {@link createServiceLogger}. */
export interface ServiceLoggerOptions {
  /** pino level. @default `VIVARIUM_LOG_LEVEL`, else `info` */
  level?: string;
  /** Where JSON lines go. @default stdout */
  destination?: DestinationStream;
}

/** A URL with the WebSocket `token` query parameter blanked out. */
export function redactUrl(url: string): string {
  return url.replace(/([?&]token=)[^&#]*/gi, '$1[redacted]');
}

/**
 * The service's pino logger: JSON lines with `service: "vivarium"`, request ids under `requestId`,
 * and request URLs with API keys (`?token=`) redacted. Headers are never logged.
 */
export function createServiceLogger(options: ServiceLoggerOptions = {}): Logger {
  const level = options.level ?? process.env.VIVARIUM_LOG_LEVEL ?? 'info';
  return pino(
    {
      level,
      base: { service: 'vivarium' },
      serializers: {
        req: (request: FastifyRequest) => ({
          method: request.method,
          url: redactUrl(request.url),
          remoteAddress: request.ip,
        }),
      },
    },
    options.destination ?? pinoDestination(1),
  );
}
