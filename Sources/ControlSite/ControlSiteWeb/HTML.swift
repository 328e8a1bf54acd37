import SVGPlot

/// Server-rendered HTML: every page in one frame, escaped text, tables. No script is needed
/// to read or sign anything; one small script refreshes the sites page when asked to.
enum HTML {
    static func escape(_ text: String) -> String { SVGText.escape(text) }

    static func page(title: String, session: WebSessions.Session?, refreshSeconds: Int? = nil, body: String) -> String {
        var nav = ""
        if let session {
            nav = """
                <nav><a href="/sites">Sites</a> <a href="/batches">Batches</a> <a href="/deviations">Deviations</a> \
                <a href="/changes">Changes</a> <a href="/comparability">Comparability</a> <a href="/comparisons">Comparisons</a> \
                <a href="/specs">Specs</a> <a href="/audit">Audit trail</a>
                <span class="who">\(escape(session.fullName)) (\(escape(session.role.rawValue)))
                <form method="post" action="/logout" class="inline"><input type="hidden" name="csrf" value="\(escape(session.csrfToken))">\
                <button type="submit">Sign out</button></form></span></nav>
                """
        }
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>\(escape(title)) · POCare Control Site</title>
            <meta name="viewport" content="width=device-width, initial-scale=1">
            \(refreshSeconds.map { "<meta http-equiv=\"refresh\" content=\"\($0)\">" } ?? "")
            <style>\(style)</style></head>
            <body>\(nav)<main><h1>\(escape(title))</h1>
            \(body)
            </main></body></html>
            """
    }

    static func table(_ headers: [String], _ rows: [[String]], cssClass: String = "") -> String {
        var s = "<table class=\"\(cssClass)\"><thead><tr>" + headers.map { "<th>\(escape($0))</th>" }.joined() + "</tr></thead><tbody>"
        if rows.isEmpty { s += "<tr><td colspan=\"\(headers.count)\" class=\"none\">none</td></tr>" }
        for row in rows { s += "<tr>" + row.map { "<td>\($0)</td>" }.joined() + "</tr>" }
        return s + "</tbody></table>"
    }

    static func link(_ href: String, _ text: String) -> String { "<a href=\"\(escape(href))\">\(escape(text))</a>" }

    /// A path segment, percent-encoded so any site or batch id makes a working link.
    static func segment(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(.init(charactersIn: "-._~"))) ?? text
    }

    static func short(_ fingerprint: String?) -> String {
        guard let fingerprint else { return "-" }
        return String(fingerprint.replacingOccurrences(of: "sha256:", with: "").prefix(12))
    }

    static func badge(_ text: String, _ kind: String) -> String { "<span class=\"badge \(kind)\">\(escape(text))</span>" }

    /// A POST form with the session's CSRF token; `fields` is the form's inner HTML.
    static func form(_ action: String, session: WebSessions.Session, cssClass: String = "qms", _ fields: String, submit: String) -> String {
        "<form method=\"post\" action=\"\(escape(action))\" class=\"\(cssClass)\">"
            + "<input type=\"hidden\" name=\"csrf\" value=\"\(escape(session.csrfToken))\">\(fields)"
            + "<button type=\"submit\">\(escape(submit))</button></form>"
    }

    static func hidden(_ name: String, _ value: String) -> String {
        "<input type=\"hidden\" name=\"\(escape(name))\" value=\"\(escape(value))\">"
    }

    static func input(_ label: String, _ name: String, value: String = "", type: String = "text", required: Bool = true) -> String {
        "<label>\(escape(label)) <input type=\"\(type)\" name=\"\(escape(name))\" value=\"\(escape(value))\"\(required ? " required" : "")></label>"
    }

    static func textarea(_ label: String, _ name: String, value: String = "", rows: Int = 2, required: Bool = false) -> String {
        "<label>\(escape(label)) <textarea name=\"\(escape(name))\" rows=\"\(rows)\" cols=\"60\"\(required ? " required" : "")>\(escape(value))</textarea></label>"
    }

    static func select(_ label: String, _ name: String, _ options: [String], selected: String? = nil) -> String {
        "<label>\(escape(label)) <select name=\"\(escape(name))\">" + options.map { o in
            "<option value=\"\(escape(o))\"\(o == selected ? " selected" : "")>\(escape(o.replacingOccurrences(of: "_", with: " ")))</option>"
        }.joined() + "</select></label>"
    }

    /// The password field of an e-signature.
    static func signaturePassword(_ session: WebSessions.Session) -> String {
        "<label>Password of \(escape(session.fullName)) <input type=\"password\" name=\"password\" autocomplete=\"current-password\" required></label>"
    }

    static func mayDecide(_ session: WebSessions.Session) -> Bool { session.role == .qa || session.role == .qp }

    static let style = """
        body{font-family:system-ui,sans-serif;margin:0;color:#111}main{padding:0 1.2rem 2rem}
        nav{background:#1f3b73;color:#fff;padding:.5rem 1.2rem}nav a{color:#fff;margin-right:1rem}
        nav .who{float:right}form.inline{display:inline}
        table{border-collapse:collapse;margin:.5rem 0 1rem}th,td{border:1px solid #bbb;padding:.25rem .5rem;text-align:left;vertical-align:top;font-size:.9rem}
        th{background:#eef}td.none{color:#777;font-style:italic}
        .badge{padding:0 .4rem;border-radius:3px;font-size:.85rem;border:1px solid #777}
        .ok{background:#d9f2d9}.warn{background:#fff1c9}.bad{background:#f8d0cc;font-weight:bold}.muted{color:#666}
        .invalid{color:#b00;font-weight:bold}.plots svg{display:block;margin:.5rem 0;max-width:100%;height:auto}
        .parameter-trend{display:flex;flex-wrap:wrap;gap:0 1rem;align-items:flex-start}.parameter-trend svg{flex:0 1 960px}
        .sign{border:2px solid #1f3b73;padding:.8rem;max-width:40rem}.sign label{display:block;margin:.3rem 0}
        form.qms{border:1px solid #bbb;padding:.5rem .8rem;margin:.5rem 0;max-width:48rem;background:#fafafa}form.qms label{display:block;margin:.25rem 0}
        form.inline-qms{display:inline}.exceptions li{margin:.2rem 0}dl.record{display:grid;grid-template-columns:13rem 1fr;gap:.2rem .8rem;max-width:70rem}dl.record dt{font-weight:bold}dl.record dd{margin:0}
        .notice{border-left:4px solid #b00;padding:.3rem .6rem;background:#fff4f4}
        @media print{nav,form{display:none}a{color:#000;text-decoration:none}}
        """
}

import Foundation
