import ArgumentParser
import Foundation
import Ingest
import Logging
import ObjectStore
import Orchestrator

/// The `archive` section turned into the object store's client and the archiver's configuration.
extension PipelineSetup {
    /// The archive's configuration, or nil when `archive.s3.endpoint` is not set.
    func objectArchiveConfiguration(actor: String) throws -> ObjectArchiveConfiguration? {
        let archive = self.file.archive
        guard let endpoint = archive.endpoint, let bucket = archive.bucket else { return nil }
        guard let key = archive.accessKeyID, let secret = archive.secretAccessKey else {
            throw ValidationError(
                "archive.s3 needs credentials: archive.s3.access_key_id and secret_access_key, or "
                    + "EXOREC_S3_ACCESS_KEY_ID and EXOREC_S3_SECRET_ACCESS_KEY in the environment"
            )
        }
        guard let url = URL(string: endpoint) else {
            throw ValidationError("archive.s3.endpoint '\(endpoint)' is not a URL")
        }
        do {
            let s3 = try S3Configuration(
                endpoint: url,
                region: archive.region,
                bucket: bucket,
                credentials: .init(accessKeyID: key, secretAccessKey: secret, sessionToken: archive.sessionToken),
                addressing: S3Configuration.Addressing(rawValue: archive.addressing) ?? .path
            )
            return ObjectArchiveConfiguration(
                s3: s3,
                prefix: archive.prefix,
                lockMode: archive.retentionMode == "governance" ? .governance : .compliance,
                retention: .milliseconds(archive.retentionPeriodMs),
                keepLocal: archive.keepLocalMs.map { .milliseconds($0) },
                workers: archive.workers,
                callJSONAfter: .milliseconds(archive.callJSONAfterMs),
                storageRoot: self.file.ingest.storageRoot,
                actor: actor
            )
        } catch let error as ObjectStoreError {
            throw ValidationError(error.description)
        }
    }

    /// The archive's configuration, or a usage error saying how to turn it on.
    func requireObjectArchive(actor: String) throws -> ObjectArchiveConfiguration {
        guard let configuration = try self.objectArchiveConfiguration(actor: actor) else {
            throw ValidationError(
                "no object archive is configured: set archive.s3.endpoint and archive.s3.bucket (docs/ARCHIVE.md)"
            )
        }
        return configuration
    }
}
