import type { Execution, MimeBundle, Output } from '../kernel/index.js';
import type { BlobStore } from './blob-store.js';
import type { BlobRef } from './store-schemas.js';

/** Key of the placeholder that stands for a blob in stored JSON: `{"$blob": sha256, "sizeBytes": n}`. */
export const BLOB_PLACEHOLDER_KEY = '$blob';

/**
 * True for MIME types whose values are base64 of binary data: `image/*` except SVG (which is
 * text), `audio/*`, `video/*`, `application/pdf`, `application/octet-stream`.
 */
export function isBinaryMime(mime: string): boolean {
  const type = mime.trim().toLowerCase().split(';')[0]?.trim() ?? '';
  if (type.startsWith('image/')) return type !== 'image/svg+xml';
  return (
    type.startsWith('audio/') ||
    type.startsWith('video/') ||
    type === 'application/pdf' ||
    type === 'application/octet-stream'
  );
}

/** An execution ready to store: large binary values replaced by placeholders, and where they are. */
export interface ExternalizedExecution {
  execution: Execution;
  refs: BlobRef[];
}

/**
 * Moves every binary MIME value longer than `inlineBinaryMaxBytes` (base64 characters) out of the
 * execution's outputs and result into the blob store, durably, before the row referring to them is
 * written. The input is not modified.
 */
export async function externalizeBlobs(
  execution: Execution,
  options: { blobs: BlobStore; inlineBinaryMaxBytes: number },
): Promise<ExternalizedExecution> {
  const refs: BlobRef[] = [];
  const externalize = async (bundle: MimeBundle, at: BlobRef['at']): Promise<MimeBundle> => {
    let copy: MimeBundle | null = null;
    for (const [mime, value] of Object.entries(bundle)) {
      if (typeof value !== 'string' || !isBinaryMime(mime) || value.length <= options.inlineBinaryMaxBytes)
        continue;
      const { sha256, sizeBytes } = await options.blobs.put(value);
      copy ??= { ...bundle };
      copy[mime] = { [BLOB_PLACEHOLDER_KEY]: sha256, sizeBytes };
      refs.push({ at, mime, sha256, sizeBytes });
    }
    return copy ?? bundle;
  };
  const outputs: Output[] = [];
  for (const [index, output] of execution.outputs.entries()) {
    if (output.output_type === 'display_data' || output.output_type === 'execute_result') {
      const data = await externalize(output.data, index);
      outputs.push(data === output.data ? output : { ...output, data });
    } else {
      outputs.push(output);
    }
  }
  const result = execution.result === null ? null : await externalize(execution.result, 'result');
  return { execution: { ...execution, outputs, result }, refs };
}

/**
 * Puts blob contents back where {@link externalizeBlobs} took them from, in place. Only locations
 * listed in `refs` are read, so a placeholder-shaped value produced by a cell is returned as it
 * is and can never pull in another blob. A missing or damaged blob becomes `null`, and its output's
 * metadata gets `{"vivarium": {"missingBlob": sha256}}`; reading never fails on it.
 * `cache` shares contents between executions read together (the same image is often both an
 * output and the result).
 */
export async function restoreBlobs(
  execution: Execution,
  refs: readonly BlobRef[],
  options: { blobs: BlobStore; cache?: Map<string, string | null> },
): Promise<Execution> {
  const cache = options.cache ?? new Map<string, string | null>();
  for (const ref of refs) {
    let content = cache.get(ref.sha256);
    if (content === undefined) {
      content = await options.blobs.get(ref.sha256, ref.sizeBytes);
      cache.set(ref.sha256, content);
    }
    if (ref.at === 'result') {
      if (execution.result && ref.mime in execution.result) execution.result[ref.mime] = content;
      continue;
    }
    const output = execution.outputs[ref.at];
    if (!output || (output.output_type !== 'display_data' && output.output_type !== 'execute_result'))
      continue;
    if (!(ref.mime in output.data)) continue;
    output.data[ref.mime] = content;
    if (content === null) {
      const previous = output.metadata.vivarium;
      const vivarium =
        previous !== null && typeof previous === 'object' && !Array.isArray(previous)
          ? (previous as Record<string, unknown>)
          : {};
      output.metadata = { ...output.metadata, vivarium: { ...vivarium, missingBlob: ref.sha256 } };
    }
  }
  return execution;
}
