import ArgumentParser
import MediaStore

/// `--meta key=value` options (`exorec call`, `catalog search`): each pair checked by ``CallMetadata``.
enum MetadataArguments {
    /// The pairs, keys lowercased; a malformed pair, a key given twice or more than `limit` pairs is a
    /// usage error naming the option.
    static func pairs(_ arguments: [String], option: String, limit: Int) throws -> [String: String] {
        guard arguments.count <= limit else {
            throw ValidationError("\(option) is given \(arguments.count) times; at most \(limit).")
        }
        var pairs: [String: String] = [:]
        for argument in arguments {
            switch CallMetadata.pair(argument) {
            case .failure(let problem):
                throw ValidationError("\(option): \(problem)")
            case .success(let pair):
                guard pairs.updateValue(pair.value, forKey: pair.key) == nil else {
                    throw ValidationError("\(option): the key '\(pair.key)' is given twice.")
                }
            }
        }
        return pairs
    }
}
