import Foundation
import TestSupport
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// An HTTP client for the web pages' tests: it keeps the session cookie as a browser does,
/// does not follow redirects (the tests look at them), and gives status, headers and body.
final class WebClient: NSObject, URLSessionTaskDelegate, @unchecked Sendable {
    struct Answer {
        var status: Int
        var headers: [String: String]
        var body: String
        var location: String? { headers["location"] }
    }

    let base: String
    private(set) var cookie: String?
    /// The sign-in form's token cookie, sent back only to /login.
    private(set) var signInCookie: String?
    private var session: URLSession!
    /// Every Set-Cookie header the server sent, as sent.
    private(set) var setCookies: [String] = []

    init(port: Int) {
        base = "http://127.0.0.1:\(port)"
        super.init()
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpShouldSetCookies = false
        configuration.httpCookieStorage = nil
        configuration.timeoutIntervalForRequest = 60
        session = URLSession(configuration: configuration, delegate: self, delegateQueue: nil)
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void) {
        completionHandler(nil)
    }

    func get(_ path: String) async throws -> Answer { try await send("GET", path, body: nil) }

    func post(_ path: String, _ fields: [(String, String)], cookie extra: String? = nil) async throws -> Answer {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
        let body = fields.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")" }.joined(separator: "&")
        return try await send("POST", path, body: body, extraCookie: extra)
    }

    /// Signs in; returns the answer (303 and a cookie when it worked).
    @discardableResult
    func signIn(_ user: String, _ password: String) async throws -> Answer {
        try await post("/login", [("user", user), ("password", password), ("next", "/sites"), ("csrf", try await signInToken())],
                       cookie: signInCookie)
    }

    /// Opens the sign-in form; returns its token (its cookie is kept for the POST).
    func signInToken() async throws -> String {
        let form = try await get("/login")
        guard let range = form.body.range(of: "name=\"csrf\" value=\"") else { throw TestFailure("no token on the sign-in form") }
        return String(form.body[range.upperBound...].prefix(64))
    }

    /// The CSRF token of the session, as a page's form carries it.
    func csrfToken() async throws -> String {
        let page = try await get("/sites")
        guard let range = page.body.range(of: "name=\"csrf\" value=\"") else { throw TestFailure("no CSRF field on /sites") }
        return String(page.body[range.upperBound...].prefix(64))
    }

    func forgetCookie() { cookie = nil }
    func setCookieForTest(_ pair: String) { cookie = pair }

    private func send(_ method: String, _ path: String, body: String?, extraCookie: String? = nil) async throws -> Answer {
        var request = URLRequest(url: URL(string: base + path)!)
        request.httpMethod = method
        let cookies = [cookie, extraCookie].compactMap { $0 }
        if !cookies.isEmpty { request.setValue(cookies.joined(separator: "; "), forHTTPHeaderField: "Cookie") }
        if let body {
            request.httpBody = Data(body.utf8)
            request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
        }
        let (data, response): (Data, URLResponse) = try await withCheckedThrowingContinuation { continuation in
            session.dataTask(with: request) { data, response, error in
                if let error { continuation.resume(throwing: error) } else {
                    continuation.resume(returning: (data ?? Data(), response!))
                }
            }.resume()
        }
        guard let http = response as? HTTPURLResponse else { throw TestFailure("not an HTTP answer") }
        var headers: [String: String] = [:]
        for (k, v) in http.allHeaderFields { headers[String(describing: k).lowercased()] = String(describing: v) }
        if let set = headers["set-cookie"] {
            setCookies.append(set)
            let pair = String(set.split(separator: ";").first ?? "")
            if pair.hasPrefix("pocare_sign_in=") { signInCookie = pair } else { cookie = pair.hasSuffix("=") ? nil : pair }
        }
        return Answer(status: http.statusCode, headers: headers, body: String(decoding: data, as: UTF8.self))
    }
}
