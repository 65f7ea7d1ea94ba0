/**
 * The sandboxed side of runInSandbox (sandbox.ts): one task on one untrusted file, read through
 * positional reads answered by the parent, under the heap ceiling and deadline the parent set.
 */

import { planEpubWatermark } from './epub/index.ts';
import { findPdfMarks } from './find-pdf-marks.ts';
import { analyzePdf } from './pdf/index.ts';
import { normalizePdf } from './pdf/normalize.ts';
import type { RangeReader } from './range-reader.ts';
import type { SandboxTask } from './sandbox.ts';
import { findZipMarks, planZipWatermark } from './zip/index.ts';

type ParentMessage =
  | { type: 'task'; task: SandboxTask; size: number }
  | { type: 'data'; id: number; data: Uint8Array }
  | { type: 'ack'; id: number };

const pending = new Map<number, (value: Buffer) => void>();
let nextId = 0;

function send(message: object): void {
  process.send?.(message);
}

function request(message: { type: string; [key: string]: unknown }): Promise<Buffer> {
  const id = nextId++;
  return new Promise((resolve) => {
    pending.set(id, resolve);
    send({ ...message, id });
  });
}

function parentReader(size: number): RangeReader {
  return { size, read: (start, end) => request({ type: 'read', start, end }) };
}

const SAMPLE_TOKEN = 'WMAAAAAAAAAAAAAAAAAAAA';

async function run(task: SandboxTask, reader: RangeReader): Promise<unknown> {
  switch (task.type) {
    case 'analyze':
      if (task.kind === 'pdf') return analyzePdf(reader);
      // ZIP and EPUB copies are planned from the central directory at download: check now that it works.
      if (task.kind === 'zip') {
        const plan = await planZipWatermark(reader, {
          licenseName: 'LICENSE-0.txt',
          licenseText: 'x',
          token: SAMPLE_TOKEN,
        });
        return { sampleLength: plan.length };
      }
      return {
        sampleLength: (await planEpubWatermark(reader, { text: 'x', token: SAMPLE_TOKEN, buyerName: 'x' }))
          .length,
      };
    case 'normalize-pdf':
      return normalizePdf(reader, (chunk) => request({ type: 'chunk', data: chunk }).then(() => undefined));
    case 'find-marks': {
      const head = await reader.read(0, 8);
      if (head.subarray(0, 2).toString('latin1') === 'PK') return findZipMarks(reader);
      return findPdfMarks(reader);
    }
  }
}

process.on('message', (raw) => {
  const message = raw as ParentMessage;
  if (message.type === 'data') {
    pending.get(message.id)?.(Buffer.from(message.data));
    pending.delete(message.id);
  } else if (message.type === 'ack') {
    pending.get(message.id)?.(Buffer.alloc(0));
    pending.delete(message.id);
  } else if (message.type === 'task') {
    run(message.task, parentReader(message.size)).then(
      // Disconnect only once the message is out: a large result (a 2,000-page analysis is ~700 KB) is
      // still being written when send() returns, and disconnecting then drops it.
      (value) => process.send?.({ type: 'result', value }, () => process.disconnect?.()),
      (error: unknown) => {
        const code = typeof error === 'object' && error && 'code' in error ? String(error.code) : 'BROKEN';
        const message = error instanceof Error ? error.message : String(error);
        process.send?.({ type: 'error', code, message }, () => process.disconnect?.());
      },
    );
  }
});
