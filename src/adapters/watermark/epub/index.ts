export { findZipMarks } from '../zip/find-marks.ts';
export { ZipError, type ZipErrorCode } from '../zip/zip-error.ts';
export { addFooter, watermarkPage } from './content.ts';
export {
  DEFAULT_EPUB_LIMITS,
  type EpubLimits,
  type EpubWatermarkInput,
  planEpubWatermark,
} from './epub-watermark.ts';
export { CLOUDSECURE_PREFIX_IRI, MARK_PROPERTY } from './opf.ts';
