/** The PDF watermark engine: analyse a master once, then plan per-buyer copies as streamed rewrites. */
export {
  analyzePdf,
  type PdfAnalysis,
  type PdfLimits,
  type PdfObjectStream,
  type PdfPage,
} from './analyze.ts';
export { PdfError, type PdfErrorCode } from './errors.ts';
export type { PdfStamp } from './stamp.ts';
export {
  INFO_MARK_KEY,
  idForToken,
  ObjectStreamCache,
  type PdfPlanOptions,
  PlanTemplateCache,
  planPdfWatermark,
} from './watermark.ts';
