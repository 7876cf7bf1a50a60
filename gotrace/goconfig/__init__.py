"""Go's own rules, ported: how go reads its settings (GOPROXY, GOSUMDB, GOPRIVATE and its
globs, HTTP(S)_PROXY/NO_PROXY, go versions and GOTOOLCHAIN). Pure functions over strings; no
I/O and no imports from the rest of gotrace, so the capture side, the analyzers and the doctor
can all use them.

Sources, all in golang/go: ``path/match.go`` (``path.Match``), ``x/mod/module``
(``MatchPrefixPatterns``), ``cmd/go/internal/modfetch/proxy.go`` (``proxyList``,
``TryProxies``), ``modfetch/sumdb.go`` (``dbDial``, ``initBase``), ``x/net/http/httpproxy``
(``FromEnvironment``, ``useProxy``), ``internal/gover``, ``cmd/go/internal/toolchain``,
``net/http/transport.go`` (timeouts of ``DefaultTransport``).
"""
