import Catalog
import Foundation
import Glibc
import MediaStore
import Testing

/// The catalog holds raw callback bodies: its files are not world-readable.
@Suite struct CatalogFileModeTests {
    @Test func theCatalogAndItsWALFilesAreNotWorldReadable() async throws {
        try await withTestCatalog { catalog, path in
            try await catalog.recordPlacedCall(Fixture.placed(sid: "CAmode"))
            for file in [path, "\(path)-wal", "\(path)-shm"] where FileManager.default.fileExists(atPath: file) {
                var info = stat()
                #expect(stat(file, &info) == 0)
                #expect(
                    info.st_mode & 0o007 == 0,
                    "\(file) is world-accessible: \(String(info.st_mode & 0o777, radix: 8))"
                )
            }
            #expect(FileManager.default.fileExists(atPath: "\(path)-wal"), "the catalog runs in WAL mode")
        }
    }
}

/// URLs are stored redacted (the one rule of `URLRedaction`): stream sidecars, recording sidecars.
@Suite struct StoredURLRedactionTests {
    @Test func aStreamUrlsSecretQueryIsNotCopiedIntoTheSidecar() throws {
        let identity = StreamIdentity(
            account: try PathSafeIdentifier("AC1", field: "account"),
            callSid: try PathSafeIdentifier("CA1", field: "call"),
            streamSid: try PathSafeIdentifier("MZ1", field: "stream"),
            from: nil,
            to: nil,
            customParameters: ["callback": "https://u:pw@hooks.example/x?token=abc&id=1"],
            queryParameters: ["sample-rate": "8000", "token": "s3cr3t-value", "X-Amz-Signature": "ff"]
        )
        let sidecar = StreamSidecar(
            identity: identity,
            sampleRate: 8000,
            startedAt: .now(),
            file: "s.wav",
            exorecVersion: "test"
        )
        let text = String(decoding: sidecar.encoded(), as: UTF8.self)

        #expect(sidecar.queryParameters == ["sample-rate": "8000", "token": "REDACTED", "X-Amz-Signature": "REDACTED"])
        #expect(sidecar.customParameters["callback"] == "https://hooks.example/x?token=REDACTED&id=1")
        #expect(!text.contains("s3cr3t-value") && !text.contains("abc") && !text.contains("pw@"))
    }

    @Test func aPreSignedRecordingUrlIsStoredWithoutItsSignature() {
        let sidecar = Fixture.recordingSidecar(
            callSid: "CA1",
            url: "https://s3.amazonaws.com/b/r.mp3?X-Amz-Signature=deadbeef&X-Amz-Credential=AKIA1",
            bytes: 1,
            sha256: "00"
        )
        #expect(!sidecar.url.contains("deadbeef") && !sidecar.url.contains("AKIA1"))
        #expect(sidecar.url.hasPrefix("https://s3.amazonaws.com/b/r.mp3?"))
    }
}
