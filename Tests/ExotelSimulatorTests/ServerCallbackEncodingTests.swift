import ExotelKit
import ExotelSimulator
import NIOHTTP1
import Testing

/// Every `StatusCallbackEvents` encoding real clients send reaches the platform through the wire: the events
/// asked for are the events the receiver gets.
@Suite(.serialized) struct ServerCallbackEncodingTests {
    struct Encoding: Sendable, CustomTestStringConvertible {
        var label: String
        var fields: [(String, String)]
        var expected: Set<String>
        var testDescription: String { self.label }
    }

    static let encodings: [Encoding] = [
        Encoding(
            label: "[] repeated",
            fields: [("StatusCallbackEvents[]", "terminal"), ("StatusCallbackEvents[]", "answered")],
            expected: ["terminal", "answered"]
        ),
        Encoding(
            label: "indexed",
            fields: [("StatusCallbackEvents[0]", "terminal"), ("StatusCallbackEvents[1]", "answered")],
            expected: ["terminal", "answered"]
        ),
        Encoding(label: "single bare", fields: [("StatusCallbackEvents", "terminal")], expected: ["terminal"]),
        Encoding(label: "single bare answered", fields: [("StatusCallbackEvents", "answered")], expected: ["answered"]),
        Encoding(
            label: "repeated bare",
            fields: [("StatusCallbackEvents", "terminal"), ("StatusCallbackEvents", "answered")],
            expected: ["terminal", "answered"]
        ),
        Encoding(
            label: "comma string",
            fields: [("StatusCallbackEvents", "terminal,answered")],
            expected: ["terminal", "answered"]
        ),
        Encoding(
            label: "lowercase name",
            fields: [("statuscallbackevents[]", "answered"), ("statuscallbackevents[]", "terminal")],
            expected: ["terminal", "answered"]
        ),
    ]

    @Test(arguments: encodings, [false, true])
    func eventsArriveAsRequested(_ encoding: Encoding, multipart: Bool) async throws {
        try await withCallbackReceiver { url, inbox in
            try await withTestSimulator { running, _ in
                var form = twoNumberForm(["StatusCallback": url, "CustomField": "encoding-check"])
                for (name, value) in encoding.fields { form.append(name, value) }
                let client = WireClient(running)
                let response = multipart ? try await client.connectMultipart(form) : try await client.connect(form)
                #expect(response.status == 200, "\(response.text)")
                let sid = try PlatformCall.decode(response.body).sid
                await running.platform.waitUntilIdle()

                let callbacks = inbox.callbacks(for: sid)
                #expect(Set(callbacks.compactMap(\.eventType)) == encoding.expected, "\(callbacks)")
                // Multipart is the default content type of callbacks.
                #expect(inbox.all.allSatisfy { $0.contentType.hasPrefix("multipart/form-data") })
                if encoding.expected.contains("terminal") {
                    let terminal = try #require(callbacks.first { $0.eventType == "terminal" })
                    #expect(terminal.status == "completed")
                    #expect(terminal.customField == "encoding-check")
                }
            }
        }
    }

    @Test func jsonCallbacksWhenAsked() async throws {
        try await withCallbackReceiver { url, inbox in
            try await withTestSimulator { running, _ in
                let form = twoNumberForm([
                    "StatusCallback": url, "StatusCallbackEvents[0]": "terminal",
                    "StatusCallbackContentType": "application/json",
                ])
                let sid = try PlatformCall.decode(try await WireClient(running).connectMultipart(form).body).sid
                await running.platform.waitUntilIdle()
                let deliveries = inbox.all.filter { $0.callback?.callSid == sid }
                #expect(deliveries.count == 1)
                #expect(deliveries.first?.contentType.hasPrefix("application/json") == true)
                #expect(deliveries.first?.callback?.eventType == "terminal")
            }
        }
    }

    @Test func withoutEventsOnlyTheMinimalCompletionCallbackArrives() async throws {
        try await withCallbackReceiver { url, inbox in
            try await withTestSimulator { running, _ in
                let sid = try PlatformCall.decode(
                    try await WireClient(running).connect(twoNumberForm(["StatusCallback": url])).body
                ).sid
                await running.platform.waitUntilIdle()
                let callbacks = inbox.callbacks(for: sid)
                #expect(callbacks.count == 1)
                #expect(callbacks.first?.status == "completed")
            }
        }
    }
}
