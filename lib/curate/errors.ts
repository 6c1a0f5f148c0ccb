/** A raw file that cannot be read as its source's format: bad input, never retried, nothing committed. */
export class MalformedFileError extends Error {
  override name = 'MalformedFileError';
}
