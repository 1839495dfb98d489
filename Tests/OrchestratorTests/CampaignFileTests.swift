import ExotelKit
import Foundation
import Orchestrator
import Testing

/// Reading campaign files: the CSV shapes spreadsheets and CRMs write, and every problem with its line.
@Suite struct CampaignFileTests {
    func problems(_ text: String, jsonLines: Bool = false, options: CampaignFileOptions = .init()) -> [String] {
        do {
            _ = try CampaignFile.parse(text, jsonLines: jsonLines, options: options)
            return []
        } catch {
            return error.problems.map(\.description)
        }
    }

    @Test func crlfBomQuotedCellsAndAnExtraColumnAreRead() throws {
        let text =
            "\u{FEFF}from,to,name,custom_field\r\n+919876500001,+919123400001,\"Doe, Jane\",\"say \"\"hi\"\"\"\r\n"
            + "+919876500002,+919123400002,\"two\r\nlines\",x\r\n+919876500003,+919123400003,Ravi,y\r\n"
        let rows = try CampaignFile.parse(text, jsonLines: false)
        #expect(rows.count == 3)
        #expect(rows.map(\.line) == [2, 3, 5])
        #expect(rows[0].order.from == "+919876500001")
        #expect(rows[0].order.destination == .number("+919123400001"))
        #expect(rows[0].order.customField == "say \"hi\"")
        #expect(rows[0].metadata == ["name": "Doe, Jane"])
        #expect(rows[1].metadata == ["name": "two\r\nlines"])
        #expect(rows[2].metadata == ["name": "Ravi"])
    }

    @Test func semicolonAndTabFilesAreDetectedAndTheDelimiterCanBeGiven() throws {
        let semicolon = try CampaignFile.parse("from;to;name\n+919876500001;+919123400001;A, B\n", jsonLines: false)
        #expect(semicolon.count == 1 && semicolon[0].metadata["name"] == "A, B")
        let tab = try CampaignFile.parse("from\tto\n+919876500001\t+919123400001\n", jsonLines: false)
        #expect(tab.count == 1 && tab[0].order.destination == .number("+919123400001"))
        // Only the header decides: a semicolon in a later row (or a quoted header cell) does not.
        let header = try CampaignFile.parse(
            "# export\n\n\"from\",to,\"a;b\"\n+919876500001,+919123400001,\"x;y;z\"\n",
            jsonLines: false
        )
        #expect(header.count == 1 && header[0].metadata == ["a;b": "x;y;z"])
        let pipe = try CampaignFile.parse(
            "from|to\n+919876500001|+919123400001\n",
            jsonLines: false,
            options: .init(delimiter: "|")
        )
        #expect(pipe.count == 1)
        // Read with the wrong delimiter, the header has no `from` column, and the message says which was used.
        let wrong = self.problems("from;to\n+919876500001;+919123400001\n", options: .init(delimiter: ","))
        #expect(
            wrong.first?.contains("no 'from' column") == true && wrong.first?.contains("--delimiter") == true,
            "\(wrong)"
        )
    }

    /// Issue 12: the extra columns become the call's metadata, so they are bounded and checked like the rest.
    @Test func metadataColumnsAreCheckedWithTheirLine() {
        let long = String(repeating: "x", count: 1025)
        let text =
            "from,to,name,note\n+919876500001,+919123400001,ok,\n+919876500002,+919123400002,\(long),fine\n"
            + "+919876500003,+919123400003,\"bell\u{7}\",fine\n"
        let problems = self.problems(text)
        #expect(
            problems == [
                "line 3: metadata 'name' is longer than 1024 bytes",
                "line 4: metadata 'name' has a control character (only tab and line breaks are kept)",
            ],
            "\(problems)"
        )
        let header = (1...33).map { "c\($0)" }.joined(separator: ",")
        let wideRow = "+919876500001,+919123400001," + (1...33).map { "\($0)" }.joined(separator: ",") + "\n"
        let wide = self.problems("from,to,\(header)\n" + wideRow + wideRow + wideRow)
        // Once, not once per row.
        #expect(wide.count == 1 && wide.first?.hasPrefix("line 2: 33 metadata columns, at most 32") == true, "\(wide)")
        // Empty cells are not metadata.
        #expect(
            (try? CampaignFile.parse(
                text.components(separatedBy: "\n").prefix(2).joined(separator: "\n") + "\n",
                jsonLines: false
            ))?.first?.metadata == ["name": "ok"]
        )
    }

    @Test func everyProblemIsListedWithItsLine() {
        let text =
            "from,to\n+919876500001,not-a-number\n+919876500002,+91XXXXXXXXXX\n+919876500003,12345\n+919876500004,+919123400004\nabc,\n"
        let problems = self.problems(text)
        #expect(problems.count == 5, "\(problems)")
        #expect(problems[0].hasPrefix("line 2: to 'not-a-number'"))
        #expect(problems[1].hasPrefix("line 3: to '+91XXXXXXXXXX'"))
        #expect(problems[2].hasPrefix("line 4: to '12345'"))
        #expect(problems[3].hasPrefix("line 6: from 'abc'"))
        #expect(problems[4] == "line 6: needs 'to' (a number) or 'flow' (a call-flow URL)")
    }

    @Test func anEmptyOrHeaderOnlyFileIsAProblem() {
        #expect(!self.problems("").isEmpty)
        #expect(!self.problems("\u{FEFF}").isEmpty)
        #expect(!self.problems("from,to\r\n").isEmpty)
        #expect(!self.problems("from,to\n\n# nothing yet\n").isEmpty)
        #expect(!self.problems("", jsonLines: true).isEmpty)
    }

    @Test func nationalNumbersNeedACountryCode() throws {
        let text = "from,to\n09876500001,0912 340 0001\n"
        #expect(self.problems(text).first?.contains("--country-code") == true)
        let rows = try CampaignFile.parse(text, jsonLines: false, options: .init(countryCode: "91"))
        #expect(rows[0].order.from == "+919876500001" && rows[0].order.destination == .number("+919123400001"))
        #expect(CampaignFile.normalisedNumber("+91 98765-00001", countryCode: nil) == "+919876500001")
        #expect(CampaignFile.normalisedNumber("+1234567", countryCode: nil) == nil, "7 digits")
        #expect(CampaignFile.normalisedNumber("+1234567890123456", countryCode: nil) == nil, "16 digits")
        #expect(CampaignFile.normalisedNumber("+0123456789", countryCode: nil) == nil)
    }

    @Test func anUnclosedQuoteAndARaggedRowAreNamed() {
        #expect(
            self.problems("from,to\n+919876500001,\"+919123400001\n+919876500002,+919123400002\n") == [
                "line 2: a quoted cell is not closed"
            ]
        )
        #expect(self.problems("from,to\n+919876500001,+919123400001,extra\n") == ["line 2: 3 cells, the header has 2"])
    }

    @Test func theContentIdIgnoresTheFileAndTheRowOrder() throws {
        let a = try CampaignFile.parse(
            "from,to\n+919876500001,+919123400001\n+919876500002,+919123400002\n",
            jsonLines: false
        )
        let b = try CampaignFile.parse(
            "\u{FEFF}to;from\r\n+919123400002;+919876500002\r\n+919123400001;+919876500001\r\n",
            jsonLines: false
        )
        #expect(Set(a.map(\.key)) == Set(b.map(\.key)))
        #expect(CampaignFile.contentId(of: a) == CampaignFile.contentId(of: b))
        let c = try CampaignFile.parse("from,to\n+919876500001,+919123400001\n", jsonLines: false)
        #expect(CampaignFile.contentId(of: a) != CampaignFile.contentId(of: c))
    }

    @Test func jsonLinesWithCRLFAndExtraKeys() throws {
        let rows = try CampaignFile.parse(
            "{\"from\":\"+919876500001\",\"to\":\"+919123400001\",\"account_id\":42}\r\n\r\n{\"from\":\"+919876500002\",\"flow\":\"http://my.exotel.com/x\"}\r\n",
            jsonLines: true
        )
        #expect(rows.map(\.line) == [1, 3])
        #expect(rows[0].metadata == ["account_id": "42"])
    }
}
