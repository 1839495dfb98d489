import Foundation
import Testing

@testable import ObjectStore

@Suite struct S3XMLTests {
    @Test func readsAnErrorDocument() throws {
        let body = Data(
            """
            <?xml version="1.0" encoding="UTF-8"?>
            <Error><Code>AccessDenied</Code><Message>Access Denied.&#x9;</Message><Resource>/b/k</Resource></Error>
            """.utf8
        )
        let error = try #require(S3ErrorBody.parse(body))
        #expect(error.code == "AccessDenied")
        #expect(error.message == "Access Denied.", "a control character (here a tab) is dropped")
    }

    @Test func readsAVersionListingWithANamespace() throws {
        let body = Data(
            """
            <ListVersionsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><IsTruncated>false</IsTruncated>
            <Version><Key>a/b.wav</Key><VersionId>v1</VersionId><IsLatest>true</IsLatest><Size>12</Size></Version>
            <DeleteMarker><Key>a/c.wav</Key><VersionId>v2</VersionId><IsLatest>true</IsLatest></DeleteMarker>
            </ListVersionsResult>
            """.utf8
        )
        let root = try #require(S3XML.parse(body))
        #expect(root.children("Version").first?.value("Key") == "a/b.wav")
        #expect(root.children("DeleteMarker").first?.value("VersionId") == "v2")
        #expect(root.value("IsTruncated") == "false")
    }

    @Test(arguments: [
        "", "<", "not xml", "<Error><Code>x</Code>", "<a></b>",
        String(repeating: "<a>", count: 40) + String(repeating: "</a>", count: 40),
        "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><Error><Code>&e;</Code></Error>",
        "<a/><b/>",
    ])
    func refusesHostileOrBrokenDocuments(_ text: String) {
        let parsed = S3ErrorBody.parse(Data(text.utf8))
        #expect(parsed == nil || !(parsed?.code.contains("root:") ?? false))
        if text.hasPrefix("<a>") { #expect(S3XML.parse(Data(text.utf8)) == nil) }
    }

    @Test func errorTextIsCutAndCleaned() throws {
        let long = String(repeating: "x", count: 5000)
        let error = try #require(S3ErrorBody.parse(Data("<Error><Code>\(long)</Code></Error>".utf8)))
        #expect(error.code.count == 200)
    }
}
