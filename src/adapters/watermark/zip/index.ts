export {
  type CentralDirectory,
  DEFAULT_ZIP_LIMITS,
  readCentralDirectory,
  type ZipEntry,
  type ZipLimits,
} from './central-directory.ts';
export { type FindMarksOptions, findZipMarks, TRACE_TOKEN_PATTERN } from './find-marks.ts';
export { ZipError, type ZipErrorCode } from './zip-error.ts';
export { planZipWatermark, type ZipWatermarkInput } from './zip-watermark.ts';
