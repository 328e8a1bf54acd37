import Hummingbird

/// The request context of the pages: Hummingbird's core storage, and the peer's address,
/// which the sign-in limit counts by and the audit trail records.
struct WebRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteAddress: String

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress?.ipAddress ?? "unknown"
    }
}
