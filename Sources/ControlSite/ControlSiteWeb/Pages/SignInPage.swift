/// The sign-in form; it says why a sign-in failed without saying whether the user exists.
enum SignInPage {
    static func render(message: String?, next: String, csrf: String) -> String {
        HTML.page(title: "Sign in", session: nil, body: """
            \(message.map { "<p class=\"notice\">\(HTML.escape($0))</p>" } ?? "")
            <form method="post" action="/login" class="sign">
            <input type="hidden" name="next" value="\(HTML.escape(next))">
            <input type="hidden" name="csrf" value="\(HTML.escape(csrf))">
            <label>User <input name="user" autocomplete="username" required autofocus></label>
            <label>Password <input type="password" name="password" autocomplete="current-password" required></label>
            <button type="submit">Sign in</button></form>
            """)
    }
}
