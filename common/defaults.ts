/**
 * Defaults that both sides need (workflows and the spec schema): written once, free of zod and Node
 * so that workflow code may import them.
 */
import { parseDuration } from './duration';

/** How long a review-mode episode waits for a decision (`healing.approvalTimeout`). */
export const DEFAULT_APPROVAL_TIMEOUT = '72h';
/** {@link DEFAULT_APPROVAL_TIMEOUT} in milliseconds (a constant duration: it always parses). */
export const DEFAULT_APPROVAL_TIMEOUT_MS = parseDuration(DEFAULT_APPROVAL_TIMEOUT) as number;
