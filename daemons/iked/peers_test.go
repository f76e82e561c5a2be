package iked

import (
	"os"
	"testing"
)

// missingPeer fails the test when a third-party peer it needs is missing
// under FOSIM_REQUIRE_PEERS=1 (CI), and skips it loudly otherwise.
func missingPeer(t testing.TB, need string) {
	t.Helper()
	if os.Getenv("FOSIM_REQUIRE_PEERS") == "1" {
		t.Fatalf("%s (FOSIM_REQUIRE_PEERS=1)", need)
	}
	t.Log("!!!!!!!! SKIPPED: " + need)
	t.Skip("!!!!!!!! SKIPPED: " + need)
}
