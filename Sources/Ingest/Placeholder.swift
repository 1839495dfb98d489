// Ingest target (in progress)
