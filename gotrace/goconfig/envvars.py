"""Facts about go's environment variables that are not one setting's grammar."""

from __future__ import annotations

from collections.abc import Mapping

#: environment variables people set believing go reads them; go does not
IGNORED_BY_GO: Mapping[str, str] = {
    "GONOSUMCHECK": "GONOSUMDB (or GOPRIVATE)",
    "GONOVERIFY": "GONOSUMDB (or GOPRIVATE)",
    "GOPROXY_INSECURE": "GOINSECURE",
}

DEVNULL = "/dev/null"  # GOMOD in module mode without a go.mod
