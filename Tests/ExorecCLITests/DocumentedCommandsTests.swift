import ExorecTesting
import Foundation
import Testing

/// README and docs/ name only subcommands and flags the command line has (issue 12: README examples
/// contradicted the code). Every `exorec …` line of a code block, and every inline `` `exorec …` ``, is
/// read as a shell would split it; its subcommand path must exist and each `--flag` must be in that
/// subcommand's `--help`. Values, placeholders and what follows a pipe or a comment are not checked.
struct DocumentedCommandsTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// The `exorec …` lines of README.md and docs/*.md, with their file.
    static func documentedCommands() throws -> [(file: String, line: String)] {
        let docs = try FileManager.default.contentsOfDirectory(atPath: "\(Self.root)/docs").filter {
            $0.hasSuffix(".md")
        }.sorted()
        var found: [(String, String)] = []
        for file in ["README.md"] + docs.map({ "docs/\($0)" }) {
            var inBlock = false
            for line in try String(contentsOfFile: "\(Self.root)/\(file)", encoding: .utf8).split(
                separator: "\n",
                omittingEmptySubsequences: false
            ) {
                if line.hasPrefix("```") {
                    inBlock.toggle()
                    continue
                }
                if inBlock {
                    found.append((file, String(line)))
                } else {
                    for span in line.split(separator: "`", omittingEmptySubsequences: false).enumerated()
                    where span.offset % 2 == 1 {
                        if span.element.hasPrefix("exorec ") { found.append((file, String(span.element))) }
                    }
                }
            }
        }
        return found.filter { !Self.words($0.1).isEmpty }
    }

    /// The command's words as a shell splits them, from `exorec` (or `…/exorec`) up to a pipe, redirection,
    /// `&`, `;` or comment; `[` and `]` (optional parts in the docs) dropped. Empty when it is not exorec.
    static func words(_ line: String) -> [String] {
        var words: [String] = []
        var current = ""
        var quote: Character?
        var previous: Character = " "
        scan: for character in line.replacingOccurrences(of: "[", with: "").replacingOccurrences(of: "]", with: "") {
            defer { previous = character }
            if let open = quote {
                if character == open { quote = nil } else { current.append(character) }
                continue
            }
            switch character {
            case "'", "\"": quote = character
            case "#" where previous.isWhitespace: break scan
            case "|", ">", "&", ";": break scan
            case _ where character.isWhitespace:
                if !current.isEmpty { words.append(current) }
                current = ""
            default: current.append(character)
            }
        }
        if !current.isEmpty { words.append(current) }
        // `NAME=value exorec …` sets the environment first.
        while let first = words.first, first.contains("="), !first.hasPrefix("-") { words.removeFirst() }
        guard let command = words.first, command == "exorec" || command.hasSuffix("/exorec") else { return [] }
        return words
    }

    /// The names listed under SUBCOMMANDS: in a help text.
    static func subcommands(in help: String) -> Set<String> {
        guard let section = help.components(separatedBy: "SUBCOMMANDS:").dropFirst().first else { return [] }
        var names: Set<String> = []
        for line in section.split(separator: "\n") where line.hasPrefix("  ") && !line.hasPrefix("   ") {
            if let name = line.split(separator: " ").first, name.allSatisfy({ $0.isLowercase || $0 == "-" }) {
                names.insert(String(name))
            }
        }
        return names
    }

    /// Whether `help` names `flag` as a whole word (`--json` is not found in `--jsonl`).
    static func mentions(_ help: String, flag: String) -> Bool {
        var search = help[...]
        while let range = search.range(of: flag) {
            let next = search[range.upperBound...].first
            if next.map({ !($0.isLetter || $0.isNumber || $0 == "-") }) ?? true { return true }
            search = search[range.upperBound...]
        }
        return false
    }

    @Test(.timeLimit(.minutes(3))) func everyDocumentedSubcommandAndFlagExists() async throws {
        var helps: [[String]: String] = [:]
        func help(_ path: [String]) async throws -> String {
            if let known = helps[path] { return known }
            let result = try await ExorecProcess.run(path + ["--help"])
            #expect(result.status == 0, "exorec \(path.joined(separator: " ")) --help: \(result.errors)")
            helps[path] = result.output
            return result.output
        }
        var problems: [String] = []
        let commands = try Self.documentedCommands()
        lines: for (file, line) in commands {
            var path: [String] = []
            var rest = Self.words(line).dropFirst()
            while let word = rest.first, !word.hasPrefix("-") {
                let known = Self.subcommands(in: try await help(path))
                guard !known.isEmpty else { break }  // a positional argument
                // `catalog ls/search/show`: each named subcommand must exist.
                let named = word.split(separator: "/").map(String.init)
                guard named.allSatisfy(known.contains) else {
                    problems.append(
                        "\(file): '\(word)' is not a subcommand of 'exorec \(path.joined(separator: " "))': \(line)"
                    )
                    continue lines
                }
                path.append(named[0])
                rest.removeFirst()
            }
            let text = try await help(path)
            for word in rest where word.hasPrefix("--") {
                let flag = String(word.prefix { $0 != "=" })
                if !Self.mentions(text, flag: flag) {
                    problems.append("\(file): 'exorec \(path.joined(separator: " "))' has no \(flag): \(line)")
                }
            }
        }
        #expect(commands.count > 50, "\(commands.count) documented commands found; the reader lost them")
        #expect(problems == [], "\(problems.joined(separator: "\n"))")
    }

    /// The reader itself: a flag that does not exist is found, the shell's splitting is followed.
    @Test func theReaderFindsWhatItShould() {
        #expect(
            Self.words("exorec hold add CA1 --reason \"case #4411\" --by legal   # exit 4") == [
                "exorec", "hold", "add", "CA1", "--reason", "case #4411", "--by", "legal",
            ]
        )
        #expect(
            Self.words("EXOREC_A=1 B=2 .build/debug/exorec serve --port 9000 | tee log") == [
                ".build/debug/exorec", "serve", "--port", "9000",
            ]
        )
        #expect(Self.words("exorec hold ls [--all] [--json]") == ["exorec", "hold", "ls", "--all", "--json"])
        #expect(Self.words("curl -X POST http://127.0.0.1:8090/").isEmpty)
        #expect(Self.mentions("  --json   Print JSON.", flag: "--json"))
        #expect(!Self.mentions("  --jsonl  Print JSON lines.", flag: "--json"))
        #expect(
            Self.subcommands(in: "SUBCOMMANDS:\n  verify   Check.\n                more\n  ls   List.\n\n  See") == [
                "verify", "ls",
            ]
        )
    }
}
