/**
 * How an MM operation ended, named after what the process would see. Invalid operations end in an
 * explicit outcome instead of an exception, so random exploration can issue anything.
 */
export type Outcome =
  | 'ok'
  /** Fault on an address without a VMA, or against the VMA's protection. */
  | 'SIGSEGV'
  /** No such process. */
  | 'ESRCH'
  /** Bad arguments: unaligned, empty or out-of-range. */
  | 'EINVAL'
  /** No room for the mapping (mremap without MREMAP_MAYMOVE, or the range is taken). */
  | 'ENOMEM'
  /** The folio could not be split or migrated: extra references (pins) or not large. */
  | 'EBUSY'
  /** Nothing to act on at that address (no folio mapped there). */
  | 'ENOENT';
