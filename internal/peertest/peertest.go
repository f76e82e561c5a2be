// Package peertest is how tests that need a third-party peer (strongSwan,
// lasso, pysaml2, Chromium, Ansible …) treat a missing one: they skip
// loudly, or, when FOSIM_REQUIRE_PEERS=1 (CI, which installs every peer),
// they fail, so that a skip never passes for a proof there.
package peertest

import (
	"fmt"
	"os"
	"testing"
)

// Required tells whether every peer must be there (FOSIM_REQUIRE_PEERS=1).
func Required() bool { return os.Getenv("FOSIM_REQUIRE_PEERS") == "1" }

// Missing ends t because a peer is missing: a failure when peers are
// required, else a loud skip.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if Required() {
		t.Fatalf("FOSIM_REQUIRE_PEERS=1 and %s", msg)
	}
	t.Logf("!!!!!!!! SKIPPED: %s (set FOSIM_REQUIRE_PEERS=1 to make this fail)", msg)
	t.Skipf("SKIPPED: %s", msg)
}

// Need is Missing(what is missing) unless ok.
func Need(t testing.TB, ok bool, what string) {
	t.Helper()
	if !ok {
		Missing(t, "%s is missing", what)
	}
}
