import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ProductFile } from '../../domain/model.ts';
import type { BlobStores, Watermarker, WatermarkStamp } from '../../domain/ports.ts';
import type { FileAnalysis, WatermarkKind } from '../../domain/watermark/watermark.ts';
import { blobRanges, blobReader } from './blob-reader.ts';
import { planEpubWatermark } from './epub/index.ts';
import { fontFor } from './pdf/fonts.ts';
import {
  ObjectStreamCache,
  type PdfAnalysis,
  type PdfPlanOptions,
  PlanTemplateCache,
  planPdfWatermark,
} from './pdf/index.ts';
import type { OutputPlan } from './plan.ts';
import { streamPlan } from './plan.ts';
import { bufferReader, type RangeReader } from './range-reader.ts';
import { DEFAULT_LIMITS, runInSandbox, SandboxError, type SandboxLimits } from './sandbox.ts';
import { planZipWatermark } from './zip/index.ts';

/** Bumped whenever the bytes of a copy change for the same inputs (it is part of every copy's ETag). */
const ENGINE_VERSION = 'wm1';

type Inspection = Omit<FileAnalysis, 'fileId' | 'createdAt'>;

function unsupported(kind: WatermarkKind, reason: string): Inspection {
  return {
    kind,
    status: 'unsupported',
    method: 'none',
    reason,
    masterKey: null,
    masterSize: null,
    data: null,
  };
}

/** Encrypted, broken or linearized PDFs are stamped from a normalised master, made once. */
function needsMaster(analysis: PdfAnalysis): string | null {
  if (analysis.encrypted) return 'encrypted';
  if (analysis.linearized) return 'linearized';
  return null;
}

export function createWatermarker(deps: {
  blobs: BlobStores;
  newId: () => string;
  limits?: SandboxLimits;
}): Watermarker {
  const limits = deps.limits ?? DEFAULT_LIMITS;
  // Rebuilt object streams holding pages are the same for every buyer of a file: made once, reused.
  const objectStreams = new ObjectStreamCache();
  // So are the replaced pages, the copy layout and the existing objects' xref rows: planned once per file.
  const templates = new PlanTemplateCache();

  async function normalize(file: ProductFile, reader: RangeReader, why: string): Promise<Inspection> {
    const dir = await mkdtemp(join(tmpdir(), 'cloudsecure-master-'));
    try {
      const path = join(dir, 'master.pdf');
      const out = createWriteStream(path);
      const write = (chunk: Buffer) =>
        new Promise<void>((resolve, reject) =>
          out.write(chunk, (error) => (error ? reject(error) : resolve())),
        );
      const done = await runInSandbox<{ reason: string[] }>({ type: 'normalize-pdf' }, reader, {
        limits,
        onChunk: write,
      });
      await new Promise<void>((resolve, reject) =>
        out.end((error?: Error | null) => (error ? reject(error) : resolve())),
      );
      const size = (await stat(path)).size;
      const store = await deps.blobs.forKind(file.storage);
      const masterKey = `m/${deps.newId()}`;
      await store.put(masterKey, createReadStream(path), { contentType: 'application/pdf', size });
      const master = blobReader(store, masterKey, size);
      try {
        const analysis = await runInSandbox<PdfAnalysis>({ type: 'analyze', kind: 'pdf' }, master, {
          limits,
        });
        return {
          kind: 'pdf',
          status: 'ok',
          method: 'normalized',
          reason: `stamped from a cleaned copy (${[why, ...done.reason].filter(Boolean).join(', ')})`,
          masterKey,
          masterSize: size,
          data: analysis,
        };
      } catch (error) {
        await store.remove(masterKey);
        throw error;
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  async function inspectPdf(file: ProductFile, reader: RangeReader): Promise<Inspection> {
    let analysis: PdfAnalysis;
    try {
      analysis = await runInSandbox<PdfAnalysis>({ type: 'analyze', kind: 'pdf' }, reader, { limits });
    } catch (error) {
      if (!(error instanceof SandboxError) || error.code === 'LIMIT') throw error;
      // Broken cross-references, an encryption dictionary, …: a cleaned master may still be possible.
      return normalize(file, reader, error.code === 'ENCRYPTED' ? 'encrypted' : 'repaired');
    }
    const why = needsMaster(analysis);
    if (why) return normalize(file, reader, why);
    return {
      kind: 'pdf',
      status: 'ok',
      method: 'rewrite',
      reason: null,
      masterKey: null,
      masterSize: null,
      data: analysis,
    };
  }

  return {
    async inspect(file, kind) {
      const store = await deps.blobs.forKind(file.storage);
      const reader = blobReader(store, file.objectKey, file.size);
      try {
        if (kind === 'pdf') return await inspectPdf(file, reader);
        await runInSandbox({ type: 'analyze', kind }, reader, { limits });
        return {
          kind,
          status: 'ok',
          method: kind,
          reason: null,
          masterKey: null,
          masterSize: null,
          data: null,
        };
      } catch (error) {
        if (error instanceof SandboxError) return unsupported(kind, error.message);
        throw error;
      }
    },

    async copy(file, analysis, stamp) {
      const store = await deps.blobs.forKind(file.storage);
      const key = analysis.masterKey ?? file.objectKey;
      const reader = blobReader(store, key, analysis.masterSize ?? file.size);
      const plan = await planCopy(analysis, reader, stamp, { cache: objectStreams, templates }).finally(() =>
        reader.close(),
      );
      const sha256 = createHash('sha256')
        .update(JSON.stringify([ENGINE_VERSION, file.sha256, key, stamp]))
        .digest('hex');
      const open = blobRanges(store, key);
      return {
        size: plan.length,
        sha256,
        open: async (range) => streamPlan(plan, open, range?.start ?? 0, range ? range.end + 1 : plan.length),
      };
    },

    async findMarks(data) {
      return runInSandbox<string[]>({ type: 'find-marks' }, bufferReader(data), {
        limits: { timeoutMs: limits.timeoutMs * 2, maxHeapMb: Math.max(limits.maxHeapMb, 1024) },
      });
    },
  };
}

function planCopy(
  analysis: FileAnalysis,
  reader: RangeReader,
  stamp: WatermarkStamp,
  options: PdfPlanOptions,
): Promise<OutputPlan> {
  switch (analysis.kind) {
    case 'pdf':
      return planPdfWatermark(
        analysis.data as PdfAnalysis,
        reader,
        {
          text: stamp.text,
          token: stamp.token,
          position: stamp.settings.position,
          opacity: stamp.settings.opacity,
          sizePt: stamp.settings.sizePt,
          font: fontFor(stamp.text),
        },
        options,
      );
    case 'zip':
      return planZipWatermark(reader, {
        licenseName: `LICENSE-${stamp.orderRef.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 60)}.txt`,
        licenseText: `${stamp.text}\n\nThis copy is licensed to the buyer named above and may not be shared.\nReference: ${stamp.token}\n`,
        token: stamp.token,
      });
    case 'epub':
      return planEpubWatermark(reader, { text: stamp.text, token: stamp.token, buyerName: stamp.buyerName });
  }
}
