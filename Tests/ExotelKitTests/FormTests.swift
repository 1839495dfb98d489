import Testing

@testable import ExotelKit

@Suite struct FormTests {
    @Test func urlencodedDecodesPlusPercentAndRepeatedKeys() throws {
        let fields = try URLEncodedForm.decode(
            Array(
                "From=%2B919876543210&Custom+Field=a+b%26c&StatusCallbackEvents[]=terminal&StatusCallbackEvents[]=answered&Empty=&Bare"
                    .utf8
            )
        )
        #expect(fields.first("From") == "+919876543210")
        #expect(fields.first("Custom Field") == "a b&c")
        #expect(fields.all("StatusCallbackEvents[]") == ["terminal", "answered"])
        #expect(fields.first("Empty") == "")
        #expect(fields.first("Bare") == "")
        #expect(fields.count == 6)
    }

    @Test func lookupsIgnoreCaseAndKeepOrder() {
        var fields = FormFields()
        fields.append("From", "1")
        fields.append("from", "2")
        fields.append("To", "3")
        #expect(fields.first("FROM") == "1")
        #expect(fields.all("From") == ["1", "2"])
        #expect(fields.first("Missing") == nil)
        #expect(fields.map(\.name) == ["From", "from", "To"])
    }

    @Test func urlencodedEncodesReservedCharactersAndRoundTrips() throws {
        let fields = FormFields([
            FormField(name: "StatusCallbackEvents[]", value: "terminal"),
            FormField(name: "Url", value: "http://my.exotel.com/x/exoml/start_voice/1?a=b&c=d e"),
            FormField(name: "Name", value: "Ünïcode +1"),
        ])
        let encoded = URLEncodedForm.encode(fields)
        #expect(encoded.hasPrefix("StatusCallbackEvents%5B%5D=terminal&Url=http%3A%2F%2Fmy.exotel.com"))
        #expect(encoded.contains("d%20e"))
        #expect(try URLEncodedForm.decode(Array(encoded.utf8)) == fields)
    }

    @Test func urlencodedRefusesBrokenEscapes() {
        #expect(throws: FormDecodingError.self) { try URLEncodedForm.decode(Array("a=%4".utf8)) }
        #expect(throws: FormDecodingError.self) { try URLEncodedForm.decode(Array("a=%zz".utf8)) }
    }

    /// The shape `curl -F` writes: quoted boundary in the header, CRLF, a file part whose content is kept.
    @Test func multipartDecodesCurlStyleBody() throws {
        let body =
            "--------------------------d74496d66958873e\r\n"
            + "Content-Disposition: form-data; name=\"From\"\r\n\r\n"
            + "+919876543210\r\n"
            + "--------------------------d74496d66958873e\r\n"
            + "Content-Disposition: form-data; name=\"StatusCallbackEvents[]\"\r\n\r\n"
            + "terminal\r\n"
            + "--------------------------d74496d66958873e\r\n"
            + "Content-Disposition: form-data; name=\"CustomField\"; filename=\"note.txt\"\r\n"
            + "Content-Type: text/plain\r\n\r\n"
            + "line one\r\nline two\r\n"
            + "--------------------------d74496d66958873e--\r\n"
        let fields = try MultipartForm.decode(
            Array(body.utf8),
            contentType: "multipart/form-data; boundary=\"------------------------d74496d66958873e\""
        )
        #expect(fields.first("From") == "+919876543210")
        #expect(fields.all("StatusCallbackEvents[]") == ["terminal"])
        #expect(fields.first("CustomField") == "line one\r\nline two")
        #expect(fields.count == 3)
    }

    @Test func multipartAcceptsUnquotedBoundaryAndBareLineFeeds() throws {
        let body = "--abc\nContent-Disposition: form-data; name=CallSid\n\nc5797\n--abc--\n"
        let fields = try MultipartForm.decode(Array(body.utf8), contentType: "multipart/form-data;boundary=abc")
        #expect(fields.first("CallSid") == "c5797")
    }

    /// The platform's status-callback field list survives encode → decode, empty values included.
    @Test func multipartRoundTripsTheCallbackFieldList() throws {
        let names = [
            "CallSid", "EventType", "DateCreated", "DateUpdated", "To", "From", "PhoneNumberSid", "StartTime",
            "EndTime", "Status", "ConversationDuration", "Direction", "CustomField", "RecordingUrl",
            "Legs[0][OnCallDuration]", "Legs[0][Status]", "Legs[0][AnsweredBy]",
            "Legs[1][OnCallDuration]", "Legs[1][Status]", "Legs[1][AnsweredBy]",
        ]
        var fields = FormFields()
        for (index, name) in names.enumerated() { fields.append(name, index % 3 == 0 ? "" : "value \(index)\"") }
        let body = MultipartForm.encode(fields, boundary: "XyZ")
        let text = String(decoding: body, as: UTF8.self)
        #expect(text.hasPrefix("--XyZ\r\nContent-Disposition: form-data; name=\"CallSid\"\r\n\r\n\r\n"))
        #expect(text.hasSuffix("--XyZ--\r\n"))
        #expect(MultipartForm.contentType(boundary: "XyZ") == "multipart/form-data; boundary=XyZ")
        #expect(try MultipartForm.decode(body, contentType: MultipartForm.contentType(boundary: "XyZ")) == fields)
    }

    @Test func multipartErrors() {
        #expect(throws: FormDecodingError.self) {
            try MultipartForm.decode(Array("--a\r\n\r\nx\r\n--a--".utf8), contentType: "multipart/form-data")
        }
        #expect(throws: FormDecodingError.self) {
            try MultipartForm.decode(
                Array("--a\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nno end".utf8),
                contentType: "multipart/form-data; boundary=a"
            )
        }
        #expect(throws: FormDecodingError.self) {
            try MultipartForm.decode(
                Array("--a\r\nContent-Type: text/plain\r\n\r\nx\r\n--a--".utf8),
                contentType: "multipart/form-data; boundary=a"
            )
        }
    }
}
