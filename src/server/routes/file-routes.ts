import fastifyMultipart from '@fastify/multipart';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { VivariumError } from '../../errors/index.js';
import {
  deletedResponseSchema,
  deleteFileQuerySchema,
  errorResponses,
  filePathParamsSchema,
  listFilesQuerySchema,
  listFilesResponseSchema,
  sessionIdParamsSchema,
  uploadResponseSchema,
  writtenFileSchema,
} from '../api-schemas.js';
import { attachmentDisposition, contentTypeFor } from '../content-types.js';
import { principalOf, type ServiceContext } from '../service-context.js';

const tags = ['files'];
const security = [{ bearerAuth: [] }];
/** Files one multipart upload may carry. */
export const MAX_UPLOAD_FILES = 100;

/** Joins a multipart `path` field (a directory) and a file name; the engine validates the result. */
function uploadPath(directory: string, filename: string): string {
  const base = directory.replace(/\/+$/, '');
  return base === '' ? filename : `${base}/${filename}`;
}

/**
 * The workspace from outside: raw PUT, multipart upload, download, list, delete. The engine's file
 * rules hold (no traversal, no symlinks followed, size and type limits).
 */
export function fileRoutes(context: ServiceContext): FastifyPluginAsyncZod {
  const { directory, store, config } = context;
  const maxUploadBytes = Math.min(config.server.maxUploadBytes, config.files.maxTransferBytes);
  return async (app) => {
    // This context reads every body as bytes (raw PUT) except multipart forms.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser(
      '*',
      { parseAs: 'buffer', bodyLimit: maxUploadBytes },
      (_request, body, done) => {
        done(null, body);
      },
    );
    await app.register(fastifyMultipart, {
      limits: {
        fileSize: maxUploadBytes,
        files: MAX_UPLOAD_FILES,
        fields: 16,
        fieldSize: 4096,
        parts: MAX_UPLOAD_FILES + 16,
      },
    });
    app.setErrorHandler((error) => {
      // An upload over the limit is a file too large, whichever layer noticed.
      const code = (error as { code?: string }).code;
      if (code === 'FST_ERR_CTP_BODY_TOO_LARGE' || code === 'FST_REQ_FILE_TOO_LARGE') {
        throw new VivariumError('FILE_TOO_LARGE', `Expected an upload of at most ${maxUploadBytes} bytes`, {
          details: { maxBytes: maxUploadBytes },
        });
      }
      throw error;
    });

    app.put('/v1/sessions/:id/files/*', {
      bodyLimit: maxUploadBytes,
      schema: {
        tags,
        security,
        summary: 'Write a file: the raw request body becomes its contents (parents created)',
        params: filePathParamsSchema,
        response: { 200: writtenFileSchema, ...errorResponses },
      },
      handler: async (request) => {
        const principal = principalOf(request);
        const session = await directory.live(principal, request.params.id);
        const body = request.body;
        const bytes = Buffer.isBuffer(body) ? body : Buffer.alloc(0);
        const written = await session.files.write(request.params['*'], bytes);
        await store.audit({
          keyId: principal.keyId,
          action: 'file.write',
          target: `${session.id}:${written.path}`,
          status: 'ok',
          details: { sizeBytes: written.sizeBytes },
        });
        return written;
      },
    });

    app.post('/v1/sessions/:id/files', {
      schema: {
        tags,
        security,
        summary:
          'Upload files (multipart/form-data): an optional `path` field (a directory) first, then file parts',
        params: sessionIdParamsSchema,
        response: { 200: uploadResponseSchema, ...errorResponses },
      },
      handler: async (request) => {
        const principal = principalOf(request);
        const session = await directory.live(principal, request.params.id);
        if (!request.isMultipart()) {
          throw new VivariumError(
            'INVALID_ARGUMENT',
            'Expected a `multipart/form-data` body; use PUT /v1/sessions/:id/files/<path> for raw bytes',
          );
        }
        let prefix = '';
        const files: Array<{ path: string; sizeBytes: number }> = [];
        for await (const part of request.parts()) {
          if (part.type === 'field') {
            if (part.fieldname === 'path' && typeof part.value === 'string') prefix = part.value;
            continue;
          }
          const bytes = await part.toBuffer();
          const written = await session.files.write(uploadPath(prefix, part.filename), bytes);
          files.push(written);
          await store.audit({
            keyId: principal.keyId,
            action: 'file.write',
            target: `${session.id}:${written.path}`,
            status: 'ok',
            details: { sizeBytes: written.sizeBytes, upload: 'multipart' },
          });
        }
        if (files.length === 0)
          throw new VivariumError('INVALID_ARGUMENT', 'Expected at least one file part in the upload');
        return { files };
      },
    });

    app.get('/v1/sessions/:id/files/*', {
      schema: {
        tags,
        security,
        summary: 'Download a file (content type from its extension, as an attachment)',
        description: 'Answers the raw bytes; errors are the usual `{error: {code, message, details}}`.',
        params: filePathParamsSchema,
      },
      handler: async (request, reply) => {
        const session = await directory.live(principalOf(request), request.params.id);
        const path = request.params['*'];
        const bytes = await session.files.read(path);
        return reply
          .header('content-type', contentTypeFor(path))
          .header('content-disposition', attachmentDisposition(path))
          .header('x-content-type-options', 'nosniff')
          .header('content-security-policy', "default-src 'none'; sandbox")
          .header('cache-control', 'no-store')
          .send(bytes);
      },
    });

    app.get('/v1/sessions/:id/files', {
      schema: {
        tags,
        security,
        summary:
          'List a workspace directory: path, type, size, modified time (symlinks listed, never followed)',
        params: sessionIdParamsSchema,
        querystring: listFilesQuerySchema,
        response: { 200: listFilesResponseSchema, ...errorResponses },
      },
      handler: async (request) => {
        const session = await directory.live(principalOf(request), request.params.id);
        const path = request.query.path ?? '';
        const listing = await session.files.list(path, { recursive: request.query.recursive === 'true' });
        return { path, ...listing };
      },
    });

    app.delete('/v1/sessions/:id/files/*', {
      schema: {
        tags,
        security,
        summary: 'Delete a file (a directory with `?recursive=true`)',
        params: filePathParamsSchema,
        querystring: deleteFileQuerySchema,
        response: { 200: deletedResponseSchema, ...errorResponses },
      },
      handler: async (request) => {
        const principal = principalOf(request);
        const session = await directory.live(principal, request.params.id);
        const path = request.params['*'];
        await session.files.remove(path, { recursive: request.query.recursive === 'true' });
        await store.audit({
          keyId: principal.keyId,
          action: 'file.delete',
          target: `${session.id}:${path}`,
          status: 'ok',
          details: {},
        });
        return { path, deleted: true as const };
      },
    });
  };
}
