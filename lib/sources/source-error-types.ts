/**
 * Names of the file-source errors that retrying cannot heal (wrong credentials, a bad URL).
 * Kept free of imports so workflow code can use it in retry policies.
 */
export const NON_RETRYABLE_SOURCE_ERRORS = ['SourceAuthError', 'SourceProtocolError', 'SourceSpecError'];
