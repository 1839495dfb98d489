import MediaStore
import Testing

/// `StorageLayout.relative(_:)` and `absolute(_:)`: the one place that turns a path under the storage root into
/// the catalog's relative key and back.
@Suite struct StorageLayoutPathTests {
    @Test(arguments: ["/data/exorec", "/data/exorec/", "/data/exorec//"])
    func aTrailingSlashOnTheRootMakesNoDifference(root: String) {
        let layout = StorageLayout(root: root)
        #expect(layout.root == "/data/exorec")
        #expect(
            layout.relative("/data/exorec/media/acme/2026/01/02/CA1/stream-S.wav")
                == "media/acme/2026/01/02/CA1/stream-S.wav"
        )
        #expect(
            layout.absolute("media/acme/2026/01/02/CA1/stream-S.wav")
                == "/data/exorec/media/acme/2026/01/02/CA1/stream-S.wav"
        )
        #expect(layout.relative("/data/exorec") == "")
        #expect(layout.absolute("") == "/data/exorec")
        #expect(layout.mediaRoot == "/data/exorec/media")
    }

    @Test(arguments: [
        "/data/exorecx/media/a.wav",  // a sibling whose name starts with the root's
        "/data/other/media/a.wav",
        "/data",  // a parent of the root
        "media/a.wav",  // already relative
        "",
    ])
    func aPathOutsideTheRootIsReturnedUnchanged(path: String) {
        #expect(StorageLayout(root: "/data/exorec").relative(path) == path)
    }

    @Test func anAbsolutePathIsNotPutUnderTheRootAgain() {
        let layout = StorageLayout(root: "/data/exorec")
        #expect(layout.absolute("/elsewhere/a.wav") == "/elsewhere/a.wav")
        for path in ["/data/exorec/media/a.wav", "/elsewhere/a.wav", "/data/exorecx/a", "/data/exorec"] {
            #expect(layout.absolute(layout.relative(path)) == path)
        }
    }

    @Test func theFileSystemRootAsStorageRoot() {
        let layout = StorageLayout(root: "/")
        #expect(layout.root == "/")
        #expect(layout.relative("/media/a.wav") == "media/a.wav")
        #expect(layout.absolute("media/a.wav") == "/media/a.wav")
        #expect(layout.mediaRoot == "/media")
        #expect(layout.relative("/") == "")
    }

    @Test(arguments: [
        ("media/a/2026/01/02/CA1/stream-S.wav", "media/a/2026/01/02/CA1/stream-S.json"),
        ("/data/exorec/media/a/CA1/recording-2.mp3", "/data/exorec/media/a/CA1/recording-2.json"),
        ("media/a/CA1.d/stream-S", "media/a/CA1.d/stream-S.json"),  // a dot in a folder name is not an extension
        ("stream-S.tar.gz", "stream-S.tar.json"),
    ])
    func theSidecarBesideAMediaFile(media: String, sidecar: String) {
        #expect(StorageLayout.sidecarPath(ofMedia: media) == sidecar)
    }

    @Test func aRelativeRoot() {
        let layout = StorageLayout(root: "storage/")
        #expect(layout.relative("storage/media/a.wav") == "media/a.wav")
        #expect(layout.absolute("media/a.wav") == "storage/media/a.wav")
        #expect(layout.relative("storagex/a.wav") == "storagex/a.wav")
    }
}
