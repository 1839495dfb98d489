import MediaStore
import Testing

/// `StorageLayout.relative(_:)` and `absolute(_:)`: the one place that turns a path under the storage root into
/// the catalog's relative key and back.
@Suite struct StorageLayoutPathTests {
    @Test(arguments: ["/data/exorec", "/data/exorec/", "/data/exorec//"])
    func aTrailingSlashOnTheRootMakesNoDifference(root: String) {
        let layout = StorageLayout(root: root)
        #expect(layout.root == "/data/exorec")
        #expect(layout.relative("/data/exorec/media/acme/2026/01/02/CA1/stream-S.wav") == "media/acme/2026/01/02/CA1/stream-S.wav")
        #expect(layout.absolute("media/acme/2026/01/02/CA1/stream-S.wav") == "/data/exorec/media/acme/2026/01/02/CA1/stream-S.wav")
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

    @Test func aRelativeRoot() {
        let layout = StorageLayout(root: "storage/")
        #expect(layout.relative("storage/media/a.wav") == "media/a.wav")
        #expect(layout.absolute("media/a.wav") == "storage/media/a.wav")
        #expect(layout.relative("storagex/a.wav") == "storagex/a.wav")
    }
}
