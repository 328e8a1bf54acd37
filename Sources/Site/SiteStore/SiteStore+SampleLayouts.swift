import CSQLite
import POCareContract
import Foundation
import Hashing
import Logging
import POCareCore

/// A device's parameter list as its samples are stored, with the device's telemetry stream.
struct SampleLayout {
    var parameters: [String]
    var id: Int64
    var text: String
    var stream: String
}

extension SiteStore {
    /// The layout row of a device's parameter list, the list as stored (`a,b,c`), which is also
    /// what the record hash covers, and the device's telemetry stream: one look-up a sample
    /// while the device's parameters stay the same.
    func layoutId(device: String, parameters: [String]) throws(SQLiteError) -> SampleLayout {
        if let known = layouts[device], known.parameters == parameters { return known }
        let text = parameters.joined(separator: ",")
        let find = try statement("SELECT id FROM layouts WHERE device = ? AND parameters = ?")
        find.bind(1, device)
        find.bind(2, text)
        let id: Int64
        if try find.step() {
            id = find.int64(0)
        } else {
            let insert = try statement("INSERT INTO layouts (device, parameters) VALUES (?, ?)")
            insert.bind(1, device)
            insert.bind(2, text)
            try insert.run()
            id = sqlite3_last_insert_rowid(connection.handle)
        }
        find.reset()
        let layout = SampleLayout(parameters: parameters, id: id, text: text, stream: StreamName.telemetry(device: device).description)
        layouts[device] = layout
        return layout
    }

    /// The row of a device's set of enumeration labels (written the first time the set is seen).
    func labelSetId(device: String, labels: SampleLabels) throws(SQLiteError) -> Int64 {
        if let known = labelSets[device], known.labels == labels { return known.id }
        let find = try statement("SELECT id FROM label_sets WHERE device = ? AND labels = ?")
        find.bind(1, device)
        find.bind(2, labels.text)
        let id: Int64
        if try find.step() {
            id = find.int64(0)
        } else {
            let insert = try statement("INSERT INTO label_sets (device, labels) VALUES (?, ?)")
            insert.bind(1, device)
            insert.bind(2, labels.text)
            try insert.run()
            id = sqlite3_last_insert_rowid(connection.handle)
        }
        find.reset()
        labelSets[device] = (labels, id)
        return id
    }
}
