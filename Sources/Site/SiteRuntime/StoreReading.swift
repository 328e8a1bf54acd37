import ControlAPI
import SiteStore

/// Reads the store for a command: a store that cannot be read fails the command with the
/// store's reason, never as an empty or partial answer (a batch record missing the samples it
/// could not read would be committed and published as complete). A refusal `read` throws
/// itself passes through as it is.
func readingStore<T>(_ path: String, failure: String = "store not readable", _ read: (StoreReader) throws -> T)
    throws(ControlResponse.Failure) -> T
{
    do {
        return try read(try StoreReader(path: path))
    } catch let refusal as ControlResponse.Failure {
        throw refusal
    } catch {
        throw ControlResponse.Failure(code: .failed, message: "\(failure): \(error)")
    }
}
