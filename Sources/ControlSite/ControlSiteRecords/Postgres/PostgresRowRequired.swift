/// A column the schema declares NOT NULL (or the statement computes so it never is NULL), read
/// by name. Were it NULL or unreadable anyway, the read fails with an error naming the column
/// instead of trapping: a broken row is reported, not a crash of the Control Site.
public struct MissingColumnValue: Error, CustomStringConvertible, Sendable {
    public var column: String
    public var description: String { "the database returned no value for column '\(column)', which is never NULL" }
}

extension PostgresResult.Row {
    public func requiredString(_ name: String) throws(MissingColumnValue) -> String {
        guard let value = string(name) else { throw MissingColumnValue(column: name) }
        return value
    }

    public func requiredInt(_ name: String) throws(MissingColumnValue) -> Int64 {
        guard let value = int(name) else { throw MissingColumnValue(column: name) }
        return value
    }

    public func requiredDouble(_ name: String) throws(MissingColumnValue) -> Double {
        guard let value = double(name) else { throw MissingColumnValue(column: name) }
        return value
    }

    public func requiredBool(_ name: String) throws(MissingColumnValue) -> Bool {
        guard let value = bool(name) else { throw MissingColumnValue(column: name) }
        return value
    }
}
