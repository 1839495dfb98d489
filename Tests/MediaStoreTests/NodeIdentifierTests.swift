import MediaStore
import Testing

struct NodeIdentifierTests {
    @Test(arguments: ["a", "node-1", "alpha.rack_2", "9", String(repeating: "n", count: 63)])
    func acceptsPlainIds(_ id: String) {
        #expect(NodeIdentifier.problem(with: id) == nil)
    }

    @Test(arguments: [
        ("", "is empty"), (String(repeating: "n", count: 64), "is longer than 63 characters"),
        ("-x", "must start with a letter or a digit"), (".hidden", "must start with a letter or a digit"),
        ("a/b", "may hold only letters, digits, '.', '_' and '-'"),
        ("a b", "may hold only letters, digits, '.', '_' and '-'"),
        ("né", "may hold only letters, digits, '.', '_' and '-'"),
        ("a\nb", "may hold only letters, digits, '.', '_' and '-'"),
    ])
    func refusesEverythingElseWithAReason(_ id: String, _ reason: String) {
        #expect(NodeIdentifier.problem(with: id) == reason)
    }

    @Test func theHostNameDefaultIsAValidId() {
        let id = NodeIdentifier.fromHostName()
        #expect(NodeIdentifier.problem(with: id) == nil)
        #expect(!id.contains("."))
    }
}
