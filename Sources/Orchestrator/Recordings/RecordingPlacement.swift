import Glibc
import MediaStore

/// Moves a verified download from its temporary file to its name in the call's folder without ever replacing
/// a file that is there.
///
/// Names are tried in order: `recording.<ext>` with `recording.json`, then `recording-2.<ext>` with
/// `recording-2.json`, … For each name:
/// - a sidecar is there: same SHA-256 (and its file exists) → that recording *is* this one, nothing is
///   written; different → the name is taken, try the next;
/// - no sidecar but the media file is there (a download that stopped between the rename and the sidecar):
///   same SHA-256 → adopt it; different → taken;
/// - neither: the temporary file is made read-only and hard-linked to the name (`link` fails if the name
///   exists, so two writers cannot both win one name), then unlinked, and the folder is synced.
struct RecordingPlacement: Sendable, Hashable {
    /// The recording in the call's folder.
    var mediaPath: String
    /// Its name in the folder (`recording.mp3`).
    var fileName: String
    /// Where its sidecar is (or goes).
    var sidecarPath: String
    /// The sidecar already describing this very file, when there was one (nothing to write then).
    var existingSidecar: RecordingSidecar?
    /// False when the same content was in the folder already (the temporary file was dropped).
    var isNew: Bool
    /// The first name that held *different* content, when there was one: two recordings for one call, both
    /// kept; worth a look.
    var conflictWith: String?

    static let maximumNames = 1000

    static func stem(_ index: Int) -> String { index == 1 ? "recording" : "recording-\(index)" }

    static func place(
        temporary: String,
        in directory: String,
        fileExtension: String,
        sha256: String
    ) throws(MediaError) -> RecordingPlacement {
        var conflict: String?
        var index = 1
        while index <= Self.maximumNames {
            let stem = Self.stem(index)
            let fileName = "\(stem).\(fileExtension)"
            let media = "\(directory)/\(fileName)"
            let sidecarPath = "\(directory)/\(stem).json"
            if FileSystem.exists(sidecarPath) {
                if let sidecar = try? RecordingSidecar.load(from: sidecarPath), sidecar.sha256 == sha256,
                    !sidecar.file.contains("/"), FileSystem.exists("\(directory)/\(sidecar.file)")
                {
                    unlink(temporary)
                    return RecordingPlacement(
                        mediaPath: "\(directory)/\(sidecar.file)",
                        fileName: sidecar.file,
                        sidecarPath: sidecarPath,
                        existingSidecar: sidecar,
                        isNew: false,
                        conflictWith: conflict
                    )
                }
                conflict = conflict ?? "\(stem).json"
                index += 1
                continue
            }
            if FileSystem.exists(media) {
                if try FileSystem.sha256(of: media) == sha256 {
                    try FileSystem.makeReadOnly(media)
                    unlink(temporary)
                    return RecordingPlacement(
                        mediaPath: media,
                        fileName: fileName,
                        sidecarPath: sidecarPath,
                        existingSidecar: nil,
                        isNew: false,
                        conflictWith: conflict
                    )
                }
                conflict = conflict ?? fileName
                index += 1
                continue
            }
            try FileSystem.makeReadOnly(temporary)
            if link(temporary, media) != 0 {
                let code = errno
                // Someone took the name between the check and the link: look at it again.
                if code == EEXIST { continue }
                throw .io(path: media, operation: "link", errno: code)
            }
            unlink(temporary)
            try FileSystem.syncDirectory(of: media)
            return RecordingPlacement(
                mediaPath: media,
                fileName: fileName,
                sidecarPath: sidecarPath,
                existingSidecar: nil,
                isNew: true,
                conflictWith: conflict
            )
        }
        throw .cannotCreate(
            path: "\(directory)/recording.\(fileExtension)",
            reason: "\(Self.maximumNames) different recordings of this call are stored already"
        )
    }
}
