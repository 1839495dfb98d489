import SQLKit

/// Stream pauses (PCI pause): `streams.pauses_json`, the sidecar's `pauses` as JSON (sorted keys), NULL
/// for a stream that was never paused. Written with the rest of the stream's row from its sidecar, so a
/// `catalog rebuild` reproduces it.
///
/// Numbered 5 on its branch; the lead renumbers migrations at merge.
func addStreamPauses(_ db: any SQLDatabase) async throws {
    try await db.alter(table: Table.streams).column("pauses_json", type: ColumnType.text).run()
}
