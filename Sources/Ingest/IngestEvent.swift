import MediaStore

/// Coarse news from the ingest server, for the catalog, live consumers and tests.
///
/// Only these leave the service thread (through an `AsyncStream`); the per-frame path never does.
public enum IngestEvent: Sendable, Hashable {
    /// A stream's start was accepted and its files exist.
    case streamStarted(StreamSidecar, wavPath: String)
    /// A stream is finalized: the sidecar holds its checksum and state.
    case streamFinished(StreamSidecar, wavPath: String)
    /// A stream ended but could not be finalized (the sidecar says what is known).
    case streamFinalizeFailed(StreamSidecar, wavPath: String, error: String)
    /// At start-up, a stream an earlier process left open (it died) was repaired: its audio up to
    /// the crash is kept, the sidecar says `interrupted`.
    case streamRepaired(StreamSidecar, wavPath: String)
    /// Growing streams whose files grew since the last report, once per housekeeping round (about a
    /// second): one batch for all of them, so that recording the progress costs one catalog write.
    /// Only while the consumer API is on (`api.token`): nobody else reads progress.
    case streamsGrew([StreamProgress])
}
