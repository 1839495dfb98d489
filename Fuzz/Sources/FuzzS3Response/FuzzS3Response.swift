import Foundation
import ObjectStore

/// An object store's answer body (hostile bytes): the XML tree, the error document and a listing's fields, and
/// S3's time format. Nothing may trap; what is read is bounded.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzS3Response(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Data(UnsafeBufferPointer(start: data, count: size))
    if let error = S3ErrorBody.parse(bytes) {
        precondition(error.code.count <= 200 && error.message.count <= 200)
    }
    if let root = S3XML.parse(bytes) {
        for element in root.children where element.name.hasSuffix("Version") || element.name.hasSuffix("Upload") {
            _ = element.value("Key")
            _ = element.value("VersionId")
            _ = Int64(element.value("Size") ?? "")
        }
        precondition(root.text.utf8.count <= S3XML.maxTextBytes)
    }
    _ = S3Time.parse(String(decoding: bytes.prefix(64), as: UTF8.self))
    return 0
}
