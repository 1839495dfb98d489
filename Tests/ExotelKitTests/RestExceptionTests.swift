import Testing

@testable import ExotelKit

@Suite struct RestExceptionTests {
    @Test func decodesJSONWithIntegerOrStringStatusAndCode() {
        #expect(
            RestException.decode(
                Array(#"{"RestException":{"Status":400,"Message":"The 'From' parameter is required."}}"#.utf8)
            )
                == RestException(status: 400, message: "The 'From' parameter is required.")
        )
        #expect(
            RestException.decode(
                Array(
                    #"{"RestException":{"Status":"401","Message":"Authentication is required","Code":"UNAUTHORIZED"}}"#
                        .utf8
                )
            )
                == RestException(status: 401, message: "Authentication is required", code: "UNAUTHORIZED")
        )
        #expect(
            RestException.decode(
                Array(#"{"RestException":{"Status":400,"Message":"From number is invalid","Code":34001}}"#.utf8)
            )
                == RestException(status: 400, message: "From number is invalid", code: "34001")
        )
        #expect(
            RestException.decode(
                Array(#"{"restexception":{"status":429,"message":"Too Many Requests","code":null}}"#.utf8)
            )
                == RestException(status: 429, message: "Too Many Requests")
        )
    }

    @Test func decodesXML() {
        let xml = """
            <?xml version="1.0" encoding="UTF-8"?>
            <TwilioResponse><RestException><Status>400</Status><Message>The &apos;From&apos; parameter is required.</Message></RestException></TwilioResponse>
            """
        #expect(
            RestException.decode(Array(xml.utf8))
                == RestException(status: 400, message: "The 'From' parameter is required.")
        )
        #expect(
            RestException.decode(
                Array(
                    "<RestException><Status>429</Status><Message>Slow down</Message><Code>RATE_LIMIT_EXCEEDED</Code></RestException>"
                        .utf8
                )
            )
                == RestException(status: 429, message: "Slow down", code: "RATE_LIMIT_EXCEEDED")
        )
    }

    @Test func otherBodiesAreNotExceptions() {
        for body in [
            "", "Bad Gateway", #"{"Call":{"Sid":"a","Status":"queued"}}"#, "<TwilioResponse><Call/></TwilioResponse>",
            #"{"RestException":{"Status":400}}"#, "{",
        ] {
            #expect(RestException.decode(Array(body.utf8)) == nil)
        }
    }

    @Test func encodesBothFormsAndRoundTrips() {
        let plain = RestException(status: 400, message: "The 'From' parameter is required.")
        #expect(
            String(decoding: plain.jsonBody(), as: UTF8.self)
                == #"{"RestException":{"Status":400,"Message":"The 'From' parameter is required."}}"#
        )
        #expect(
            String(decoding: RestException(status: 400, message: "m", code: "34001").jsonBody(), as: UTF8.self)
                == #"{"RestException":{"Status":400,"Message":"m","Code":34001}}"#
        )
        #expect(
            String(decoding: RestException(status: 401, message: "m", code: "UNAUTHORIZED").jsonBody(), as: UTF8.self)
                == #"{"RestException":{"Status":401,"Message":"m","Code":"UNAUTHORIZED"}}"#
        )
        #expect(
            String(decoding: plain.xmlBody(), as: UTF8.self).contains(
                "<TwilioResponse><RestException><Status>400</Status><Message>The &apos;From&apos; parameter is required.</Message></RestException></TwilioResponse>"
            )
        )
        for exception in [plain, RestException(status: 429, message: "a \"quoted\" <message> & more", code: "X1")] {
            #expect(RestException.decode(exception.jsonBody()) == exception)
            #expect(RestException.decode(exception.xmlBody()) == exception)
        }
    }

    @Test func wrapsValidationErrors() {
        let error = ConnectRequestError(parameter: "From", message: "The 'From' parameter is required.")
        #expect(RestException(error) == RestException(status: 400, message: "The 'From' parameter is required."))
    }
}
