package debuglog

import (
	"strings"
	"testing"
	"time"
)

func TestDelivery(t *testing.T) {
	now := time.Date(2025, 9, 23, 17, 18, 33, 287727000, time.UTC)
	h := New(func() time.Time { return now })
	var a, b strings.Builder
	sa, sb := h.Attach(&a), h.Attach(&b)
	ike := h.Logger("ike")
	ike.Printf(1, "ike V=root:0: nobody listens")
	sa.SetLevel("ike", -1)
	ike.Printf(1, "ike V=root:0: not enabled yet")
	sa.Enable(true)
	sb.Enable(true) // enabled, but no ike level
	ike.Printf(1, "ike V=root:0:dialup_0:264:dialup:913: added IPsec SA: SPIs=0882a8d1/cf9e1dc5")
	sa.Timestamp(true)
	ike.Printf(1, "ike V=root:0:dialup_0: flushing")
	h.Logger("samld").Printf(1, "__samld_sp_create_auth_req [472]:")
	want := "ike V=root:0:dialup_0:264:dialup:913: added IPsec SA: SPIs=0882a8d1/cf9e1dc5\n" +
		"2025-09-23 17:18:33.287727 ike V=root:0:dialup_0: flushing\n"
	if a.String() != want {
		t.Fatalf("got %q\nwant %q", a.String(), want)
	}
	if b.String() != "" {
		t.Fatalf("session without the ike level got %q", b.String())
	}
	sa.Reset()
	if ike.Enabled(1) {
		t.Fatal("reset left ike on")
	}
	sa.Detach()
	sb.Detach()
}
